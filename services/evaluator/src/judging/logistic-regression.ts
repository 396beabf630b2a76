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

/**
 * L1-regularised logistic regression with soft labels and sample weights, no intercept: minimises
 *
 *   |b|_1  +  C * sum_i w_i [ log(1 + e^{x_i.b}) - y_i x_i.b ],   y_i in [0, 1],
 *
 * which is liblinear's L1 objective (what scikit-learn's `LogisticRegression(penalty="l1", solver="liblinear",
 * fit_intercept=False)` solves) after AlpacaEval's trick of duplicating each soft-labelled row into a y=1 row of
 * weight w*y and a y=0 row of weight w*(1-y). Solved by proximal Newton steps (the quadratic sub-problem by
 * coordinate descent with soft-thresholding) with a backtracking line search, to a much tighter tolerance than
 * liblinear's default, so the answer is the optimum rather than one solver's stopping point.
 */
export function fitL1LogisticRegression(
  X: number[][],
  y: number[],
  options: { weights: number[]; C: number; maxIterations?: number; tolerance?: number },
): LogisticFit {
  const n = X.length;
  const k = X[0]?.length ?? 0;
  if (n === 0 || k === 0) throw new Error("logistic regression needs at least one row and one column");
  const { weights: w, C } = options;
  const maxIterations = options.maxIterations ?? 200;
  const tolerance = options.tolerance ?? 1e-10;

  const objective = (b: number[]): number => {
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const z = dot(X[i]!, b);
      loss += w[i]! * (softplus(z) - y[i]! * z);
    }
    return C * loss + b.reduce((s, v) => s + Math.abs(v), 0);
  };

  let b = new Array<number>(k).fill(0);
  let current = objective(b);
  for (let iter = 1; iter <= maxIterations; iter++) {
    const grad = new Array<number>(k).fill(0);
    const hess = Array.from({ length: k }, () => new Array<number>(k).fill(0));
    for (let i = 0; i < n; i++) {
      const xi = X[i]!;
      const p = sigmoid(dot(xi, b));
      const r = C * w[i]! * (p - y[i]!);
      const v = C * w[i]! * p * (1 - p);
      for (let a = 0; a < k; a++) {
        grad[a]! += r * xi[a]!;
        for (let c = 0; c < k; c++) hess[a]![c]! += v * xi[a]! * xi[c]!;
      }
    }
    // Newton direction for the smooth part with the L1 term kept exact: minimise over d
    //   grad.d + d'Hd/2 + |b + d|_1   by cyclic coordinate descent.
    const d = new Array<number>(k).fill(0);
    for (let sweep = 0; sweep < 1000; sweep++) {
      let moved = 0;
      for (let j = 0; j < k; j++) {
        const hjj = hess[j]![j]! + 1e-12;
        let gj = grad[j]!;
        for (let c = 0; c < k; c++) gj += hess[j]![c]! * d[c]!;
        // minimise over t = b_j + d_j: (gj - hjj d_j)(t - b_j) + hjj (t - b_j)^2 / 2 + |t|
        const u = b[j]! + d[j]! - gj / hjj;
        const t = Math.sign(u) * Math.max(Math.abs(u) - 1 / hjj, 0);
        const nd = t - b[j]!;
        moved = Math.max(moved, Math.abs(nd - d[j]!));
        d[j] = nd;
      }
      if (moved < 1e-15) break;
    }
    let step = 1;
    let next = b.map((bj, j) => bj + d[j]!);
    let value = objective(next);
    while (value > current && step > 1e-10) {
      step /= 2;
      next = b.map((bj, j) => bj + step * d[j]!);
      value = objective(next);
    }
    const change = Math.max(...d.map((s) => Math.abs(s * step)));
    if (value <= current) {
      b = next;
      current = value;
    }
    if (change < tolerance || value > current) return { coefficients: b, iterations: iter, converged: true, logLikelihood: -current };
  }
  return { coefficients: b, iterations: maxIterations, converged: false, logLikelihood: -current };
}
