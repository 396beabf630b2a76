/**
 * Weighted L2-regularised logistic regression with soft labels, fitted by Newton's method (IRLS).
 *
 * Maximises  sum_i w_i [ y_i log s(x_i.b) + (1 - y_i) log(1 - s(x_i.b)) ]  -  (l2 / 2) |b|^2,  y_i in [0, 1].
 * Soft labels matter: AlpacaEval's weighted judge gives preferences such as 0.73, and its GLM is fitted on them
 * as probabilities. npm's logistic-regression packages (ml-logistic-regression) take hard class labels and no
 * weights, so this small solver is ours. With l2 > 0 the objective is strictly concave: Newton steps, halved
 * when they do not improve it, converge from b = 0.
 */
export interface LogisticFit {
  coefficients: number[];
  iterations: number;
  converged: boolean;
  logLikelihood: number;
}

export function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

/** log(1 + e^z) without overflow. */
function softplus(z: number): number {
  return z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
}

export function fitLogisticRegression(
  X: number[][],
  y: number[],
  options: { weights?: number[]; l2: number; maxIterations?: number; tolerance?: number },
): LogisticFit {
  const n = X.length;
  const k = X[0]?.length ?? 0;
  if (n === 0 || k === 0) throw new Error("logistic regression needs at least one row and one column");
  if (y.length !== n) throw new Error(`logistic regression: ${n} rows but ${y.length} labels`);
  const w = options.weights ?? new Array<number>(n).fill(1);
  const { l2 } = options;
  const maxIterations = options.maxIterations ?? 100;
  const tolerance = options.tolerance ?? 1e-10;

  const objective = (b: number[]): number => {
    let ll = 0;
    for (let i = 0; i < n; i++) {
      const z = dot(X[i]!, b);
      // y log s(z) + (1-y) log(1-s(z)) = y z - log(1 + e^z)
      ll += w[i]! * (y[i]! * z - softplus(z));
    }
    return ll - (l2 / 2) * dot(b, b);
  };

  let b = new Array<number>(k).fill(0);
  let current = objective(b);
  for (let iter = 1; iter <= maxIterations; iter++) {
    const grad = b.map((bj) => -l2 * bj);
    const hess = Array.from({ length: k }, (_, r) => Array.from({ length: k }, (_, c) => (r === c ? l2 : 0)));
    for (let i = 0; i < n; i++) {
      const xi = X[i]!;
      const p = sigmoid(dot(xi, b));
      const r = w[i]! * (y[i]! - p);
      const v = w[i]! * p * (1 - p);
      for (let a = 0; a < k; a++) {
        grad[a]! += r * xi[a]!;
        for (let c = 0; c < k; c++) hess[a]![c]! += v * xi[a]! * xi[c]!;
      }
    }
    const step = solve(hess, grad);
    let t = 1;
    let next = b.map((bj, j) => bj + t * step[j]!);
    let value = objective(next);
    while (value < current - 1e-12 && t > 1e-8) {
      t /= 2;
      next = b.map((bj, j) => bj + t * step[j]!);
      value = objective(next);
    }
    const change = Math.max(...step.map((s) => Math.abs(s * t)));
    b = next;
    current = value;
    if (change < tolerance) return { coefficients: b, iterations: iter, converged: true, logLikelihood: current };
  }
  return { coefficients: b, iterations: maxIterations, converged: false, logLikelihood: current };
}

function dot(a: number[], b: number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** Solves A x = b (A symmetric positive definite here) by Gaussian elimination with partial pivoting. */
function solve(A: number[][], b: number[]): number[] {
  const k = b.length;
  const M = A.map((row, i) => [...row, b[i]!]);
  for (let col = 0; col < k; col++) {
    let pivot = col;
    for (let r = col + 1; r < k; r++) if (Math.abs(M[r]![col]!) > Math.abs(M[pivot]![col]!)) pivot = r;
    [M[col], M[pivot]] = [M[pivot]!, M[col]!];
    const d = M[col]![col]!;
    if (d === 0) throw new Error("logistic regression: singular Hessian");
    for (let r = 0; r < k; r++) {
      if (r === col) continue;
      const f = M[r]![col]! / d;
      if (f !== 0) for (let c = col; c <= k; c++) M[r]![c]! -= f * M[col]![c]!;
    }
  }
  return M.map((row, i) => row[k]! / row[i]!);
}
