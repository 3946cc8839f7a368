/*
 * ad.h -- a small reverse-mode automatic differentiation engine for MLPs,
 * with forward-over-reverse second derivatives (src/nn/ad.c).
 *
 * A graph is an arena of nodes; every node holds a row-major matrix value
 * and, alongside it, a tangent (its directional derivative along a chosen
 * direction of the parameters), a gradient and the gradient's tangent.
 * Ops only record a node and compute its forward value and tangent; one
 * backward pass (one switch over the op, forward and backward side by side
 * in ad.c) accumulates gradients and their tangents.  With parameter
 * tangents v, the gradient's tangent of the parameters is the
 * Hessian-vector product H v (Pearlmutter 1994; forward-over-reverse).
 * The ops are those of an MLP and its two losses: a leaf, A B', a bias
 * row, the activations, the squared loss and the softmax cross-entropy.
 *
 * Shapes are (rows, cols); a scalar is 1 x 1.  Matrix products go to BLAS.
 * Ownership: the caller owns the graph; the graph owns its nodes and their
 * arrays (linstab_ad_graph_free frees them all; a node pointer is a
 * borrow, valid until then).  Errors: an op returns NULL when out of
 * memory, when an input is NULL (so a chain of ops needs one check at its
 * end) or when the shapes do not fit; nothing is printed.
 */
#ifndef LINSTAB_AD_H
#define LINSTAB_AD_H

#include <stddef.h>

#include "linstab/export.h"
#include "linstab/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum linstab_ad_op {
    LINSTAB_AD_LEAF = 0,   /* input or parameter                               */
    LINSTAB_AD_MATMUL_NT,  /* A B'  (A m x k, B n x k) -> m x n                */
    LINSTAB_AD_ADD_ROW,    /* X + 1 b  (b 1 x n broadcast over rows)           */
    LINSTAB_AD_TANH,
    LINSTAB_AD_RELU,
    LINSTAB_AD_SIGMOID,
    LINSTAB_AD_SOFTPLUS,
    LINSTAB_AD_GELU,       /* x Phi(x), the exact (erf) form                   */
    LINSTAB_AD_MSE,        /* sum ||f_r - y_r||^2 / 2 over rows -> 1 x 1       */
    LINSTAB_AD_XENT        /* sum over rows of label-smoothed softmax cross-entropy -> 1 x 1 */
} linstab_ad_op;

/* A node.  Its fields are the engine's results, for reading (v after the
 * op, g and gt after linstab_ad_backward); the graph owns the arrays. */
typedef struct linstab_ad_node {
    linstab_ad_op op;
    size_t rows, cols;
    double *v, *t;   /* value and its tangent            (rows x cols) */
    double *g, *gt;  /* gradient and the gradient's tangent            */
    struct linstab_ad_node *a, *b; /* inputs (or NULL)                 */
    const double *target;          /* MSE: y (rows x cols); XENT: labels (rows), borrowed */
    double c;                      /* XENT label smoothing             */
    double *aux;                   /* XENT: the rows' softmax (rows x cols of a), owned */
} linstab_ad_node;

typedef struct linstab_ad_graph linstab_ad_graph;

/* An elementwise activation (TANH .. GELU) at x: OUT *f, *d1, *d2 = its
 * value, first and second derivative (NaN for the other ops). */
LINSTAB_API void linstab_ad_activation(linstab_ad_op op, double x, double *f, double *d1, double *d2);

/* An empty graph (NULL when out of memory), owned by the caller; free it
 * and every node with linstab_ad_graph_free (NULL is a no-op). */
LINSTAB_API linstab_ad_graph *linstab_ad_graph_alloc(void);
LINSTAB_API void linstab_ad_graph_free(linstab_ad_graph *g);

/* A leaf with value `v` (rows x cols, copied) and tangent `t` (copied, or
 * zero if NULL).  NULL when out of memory. */
LINSTAB_API linstab_ad_node *linstab_ad_leaf(linstab_ad_graph *g, size_t rows, size_t cols,
                                             const double *v, const double *t);

/* A B' for a (m x k) and b (n x k): an m x n node.  NULL on a shape
 * mismatch or when out of memory. */
LINSTAB_API linstab_ad_node *linstab_ad_matmul_nt(linstab_ad_graph *g, linstab_ad_node *a,
                                                  linstab_ad_node *b);
/* X + 1 b: the row b (1 x cols of x, or any shape of that many entries)
 * added to every row of x.  NULL on a shape mismatch or out of memory. */
LINSTAB_API linstab_ad_node *linstab_ad_add_row(linstab_ad_graph *g, linstab_ad_node *x,
                                                linstab_ad_node *b);
/* act(x) elementwise, op one of TANH, RELU, SIGMOID, SOFTPLUS, GELU (NULL
 * for any other op, or out of memory). */
LINSTAB_API linstab_ad_node *linstab_ad_unary(linstab_ad_graph *g, linstab_ad_op op,
                                              linstab_ad_node *x);
/* The scalar sum_r ||f_r - y_r||^2 / 2; y: rows x cols targets, borrowed
 * until the graph is freed.  NULL when out of memory. */
LINSTAB_API linstab_ad_node *linstab_ad_mse(linstab_ad_graph *g, linstab_ad_node *f,
                                            const double *y);
/* The scalar sum over rows of the softmax cross-entropy of the logits z
 * (rows x K) against the label-smoothed targets (1 - s) e_label + s / K;
 * labels: rows class indices in 0..K-1 (as doubles, not checked here),
 * borrowed until the graph is freed; smoothing s in [0, 1).  NULL when
 * out of memory. */
LINSTAB_API linstab_ad_node *linstab_ad_xent(linstab_ad_graph *g, linstab_ad_node *z,
                                             const double *labels, double smoothing);

/* Backward from the scalar `loss` (gradient 1, gradient tangent 0): fills
 * g and gt of every node of the graph (zeroed first; nodes that do not
 * lead to loss keep zero).  Cannot fail. */
LINSTAB_API void linstab_ad_backward(linstab_ad_graph *g, linstab_ad_node *loss);

#ifdef __cplusplus
}
#endif
#endif
