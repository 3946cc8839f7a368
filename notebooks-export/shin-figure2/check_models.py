# The end points' training loss and accuracy, recomputed with numpy from the kept weights
# (model-*/W1.npy, b1.npy, W2.npy, b2.npy: f(x) = W2 tanh(W1 x + b1) + b2, loss ||f(x) - y||^2 / 2
# averaged over the first 1000 Fashion-MNIST training images), against results.csv.
import gzip

FM = "/usr/share/datasets/fashion-mnist"
X = np.frombuffer(gzip.open(f"{FM}/train-images-idx3-ubyte.gz").read()[16:], np.uint8).reshape(-1, 784)[:1000] / 255.0
lab = np.frombuffer(gzip.open(f"{FM}/train-labels-idx1-ubyte.gz").read()[8:], np.uint8)[:1000]
for r in load_csv("results.csv"):
    d = f"model-{r['optimizer']}-{r['rho']:g}"
    W1, b1, W2, b2 = (np.load(f"{d}/{k}.npy") for k in ("W1", "b1", "W2", "b2"))
    f = np.tanh(X @ W1.T + b1) @ W2.T + b2
    loss = 0.5 * ((f - np.eye(10)[lab]) ** 2).sum(axis=1).mean()
    acc = (f.argmax(axis=1) == lab).mean()
    print(f"{d}: train loss {loss:.6f} (results.csv {r['train_loss']:.6f}), accuracy {acc:.3f} ({r['train_accuracy']:.3f})")
