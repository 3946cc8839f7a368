/* mlp_outact_fp.h -- fingerprints of a linear-output model's numbers for
 * test_mlp_outact.c: the same function, linked against the library before
 * output activations existed, printed the pinned values (with %a). */
static double fp_sum(const double *v, size_t n)
{
    double s = 0.0;
    for (size_t k = 0; k < n; k++) s += v[k] * (double)(1 + k % 5);
    return s;
}

/* Fills out[] (at most 64 entries) and returns the count. */
static size_t none_fingerprints(double *out)
{
    size_t c = 0;
    static const size_t s1[3] = {3, 4, 2}, s2[4] = {2, 3, 3, 2};
    for (int net = 0; net < 2; net++) {
        linstab_mlp *m = NULL;
        linstab_error err;
        if (linstab_mlp_alloc(net ? s2 : s1, net ? 3 : 2, net ? LINSTAB_AD_GELU : LINSTAB_AD_TANH, !net, &m, &err) !=
            LINSTAB_OK)
            return 0;
        size_t p = m->p, d0 = m->sizes[0], K = m->sizes[m->nlayers], n = 4;
        for (size_t k = 0; k < p; k++) m->theta[k] = 0.8 * sin(1.0 + 0.37 * (double)k);
        double X[4 * 3], Y[4 * 2], lab[4] = {0, 1, 1, 0}, v[64], F[8], g[64], hv[64], o2[64], H[64 * 64], U[64 * 2],
            G[8 * 8], val;
        for (size_t k = 0; k < n * d0; k++) X[k] = cos(0.5 + 0.71 * (double)k);
        for (size_t k = 0; k < n * K; k++) Y[k] = 0.3 * sin(2.1 * (double)k);
        for (size_t k = 0; k < p; k++) v[k] = cos(0.3 + 1.7 * (double)k);
        linstab_mlp_forward(m, X, n, F, &err);
        out[c++] = fp_sum(F, n * K);
        for (int ce = 0; ce <= 1; ce++) {
            const double *T = ce ? lab : Y;
            linstab_loss loss = ce ? LINSTAB_LOSS_CE : LINSTAB_LOSS_MSE;
            linstab_mlp_loss(m, X, T, n, loss, 0.1, NULL, &val, NULL, NULL, &err);
            out[c++] = val;
            linstab_mlp_loss(m, X, T, n, loss, 0.1, v, &val, g, hv, &err);
            out[c++] = val;
            out[c++] = fp_sum(g, p);
            out[c++] = fp_sum(hv, p);
            linstab_mlp_hvp(m, X, T, n, loss, 0.1, v, hv, &err);
            out[c++] = fp_sum(hv, p);
            linstab_mlp_m2_product(m, X, T, n, loss, 0.1, v, o2, hv, &err);
            out[c++] = fp_sum(o2, p);
            out[c++] = fp_sum(hv, p);
            linstab_mlp_sample_hessian(m, X + d0, ce ? lab + 1 : Y + K, loss, 0.1, H, &err);
            out[c++] = fp_sum(H, p * p);
            linstab_array Xa = {2, {n, d0}, X}, Ya = ce ? (linstab_array){1, {n}, lab} : (linstab_array){2, {n, K}, Y};
            double ml, acc;
            linstab_mlp_evaluate(m, &Xa, &Ya, loss, 0.1, &ml, &acc, &err);
            out[c++] = ml;
            out[c++] = acc;
            linstab_mlp_point pt;
            linstab_mlp_point_at(m, &Xa, &Ya, loss, 0.1, &pt, &err);
            out[c++] = pt.mean_loss;
            out[c++] = pt.grad_norm;
            out[c++] = pt.max_sample_grad_norm;
        }
        linstab_mlp_sample_jacobian_t(m, X + 2 * d0, U, &err);
        out[c++] = fp_sum(U, p * K);
        linstab_array Xa = {2, {n, d0}, X};
        linstab_mlp_ntk_gram(m, &Xa, G, &err);
        out[c++] = fp_sum(G, n * K * n * K);
        linstab_mlp_free(m);
    }
    return c;
}
