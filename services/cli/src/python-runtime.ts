// Runs the Python runtime (`python -m mambalign_runtime ...`) from the CLI: the demo's data, the
// merge of `adapters export --merged`. Its stdout (runtime events) is not needed here.
import { spawn } from "node:child_process";
import path from "node:path";
import { CliError } from "./cli-io.js";
import { REPO_ROOT } from "./embedded/embedded-system.js";

export async function runPythonRuntime(python: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  // The runtime's sources on PYTHONPATH: a checkout works even where the venv lacks the editable install.
  const pythonPath = [path.join(REPO_ROOT, "services", "runtime"), env.PYTHONPATH].filter(Boolean).join(path.delimiter);
  const child = spawn(python, ["-m", "mambalign_runtime", ...args], { env: { ...env, PYTHONPATH: pythonPath }, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr = (stderr + c).slice(-4000)));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", resolve);
  }).catch((err: Error) => {
    throw new CliError(`cannot run ${python}: ${err.message} (run scripts/setup.sh, which installs the Python runtime, or set MAMBALIGN_PYTHON)`);
  });
  if (code !== 0) throw new CliError(`${python} -m mambalign_runtime ${args[0]} failed (exit ${code}): ${stderr.trim()}`);
}
