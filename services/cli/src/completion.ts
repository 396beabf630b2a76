// `mambalign completion bash|zsh`: a completion script generated from the commander tree, so it
// never lags behind the commands. Plain POSIX-ish bash (no associative arrays: macOS has bash 3.2);
// zsh runs the same function through bashcompinit.
import type { Command } from "commander";

interface Node {
  path: string;
  words: string[];
}

function walk(cmd: Command, prefix: string, out: Node[]): void {
  const words = [
    ...cmd.commands.map((c) => c.name()),
    ...cmd.options.flatMap((o) => [o.short, o.long].filter((x): x is string => Boolean(x))),
    "--help",
  ];
  out.push({ path: prefix, words });
  for (const c of cmd.commands) walk(c, prefix ? `${prefix} ${c.name()}` : c.name(), out);
}

export function bashCompletion(program: Command): string {
  const nodes: Node[] = [];
  walk(program, "", nodes);
  // Global options (-o, --addr) work after a subcommand too.
  const global = nodes[0]!.words.filter((w) => w.startsWith("-"));
  const name = program.name();
  const fn = `_${name.replace(/[^A-Za-z0-9_]/g, "_")}`;
  const cases = nodes.map((n) => `    "${n.path}") echo "${[...new Set([...n.words, ...(n.path ? global : [])])].join(" ")}" ;;`);
  return `# ${name} shell completion. bash: source <(${name} completion bash)   zsh: source <(${name} completion zsh)
${fn}_words() {
  case "$1" in
${cases.join("\n")}
  esac
}
${fn}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path="" next w i
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case "$w" in -*) continue ;; esac
    if [ -z "$path" ]; then next="$w"; else next="$path $w"; fi
    # Only words that name a subcommand move down the tree (arguments and option values do not).
    if [ -n "$(${fn}_words "$next")" ]; then path="$next"; fi
  done
  COMPREPLY=($(compgen -W "$(${fn}_words "$path")" -- "$cur"))
}
complete -o default -F ${fn} ${name}
`;
}

export function zshCompletion(program: Command): string {
  return `autoload -U +X bashcompinit && bashcompinit\n${bashCompletion(program)}`;
}
