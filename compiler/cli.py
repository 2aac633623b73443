"""The `flowc` command line (console script `flowc`, or `python -m compiler`).

    flowc dump MODULE:FN [-o DIR] [--stages a,b] [--pipeline O0|default] ...
    flowc compile MODULE:FN -o DIR [--name NAME] [--target-cpu CPU] ...
    flowc inspect NAME.so|NAME.json|DIR [--json]
    flowc cache info|clear|explain MODULE:FN
    flowc view MODULE:FN [-o DIR] [--format html|dot]

MODULE is a Python file (`path/to/model.py`) or an importable module (`pkg.model`); FN
is a function of no arguments that builds a graph (in a fresh default graph) and
returns the fetches, or `(fetches, feeds)`, or `(fetches, feeds, session)` (the session
holding the variables' values for `compile`). Without feeds, the placeholders the
fetches need become the arguments, in the order they were created.

`dump` prints every stage of the compile (`fc.dump`), or writes one file per stage to
DIR; `compile` writes NAME.so, NAME.h and NAME.json (`fc.compile`); `inspect` reads a
manifest and says what the artifact takes and returns, its target and whether this
machine can load it; `cache` shows (`info`), empties (`clear`) or explains a miss of
(`explain`) the JIT's compile cache (compiler/cache.py, docs/cache.md); `view` writes the
graph viewer, DIR/graph.html (compiler/viz, docs/visualization.md), or DOT files. Compiles
that take over a second show a status line on stderr when it is a terminal ("flowc:
compiling NAME: STAGE D/T kernels, 3.2 s"; -q or FLOWC_PROGRESS=0 turns it off);
`--timings` prints the compile's phase table on stderr (compiler/timings.py). Exit status:
0 on success, 1 when flowc reports an error, 2 for bad usage. docs/cli.md is the manual.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import json
import os
import sys
import traceback

from .timings import Progress, phase, progress, progress_enabled, record

EXAMPLES = """\
examples:
  flowc dump model.py:build                           every stage, on stdout
  flowc dump model.py:build --stages fusion,kernels   two stages
  flowc dump model.py:build -o dumps/ --pipeline O0   files dumps/00_graph.txt ...
  flowc compile model.py:build -o out/ --name mlp     out/mlp.so, mlp.h, mlp.json
  flowc compile model.py:build -o out/ --timings      ... and where the time went
  flowc inspect out/mlp.so                            inputs, outputs, target
  flowc cache info                                    where the compile cache is, its size
  flowc cache explain model.py:build --threads 4      would the JIT hit, and if not, why;
                                                      how many kernels the library has
  flowc view model.py:build -o view/                  view/graph.html: scopes, kernels
  flowc view model.py:build --format dot              graph.dot and fusion.dot

FN builds the graph and returns fetches, (fetches, feeds) or (fetches, feeds, session).
Stages: graph, input, one per pass run (fold_constants, cse, simplify, dce, ...),
fusion, kernels, llvm, llvm_opt, asm.
"""


class UsageError(Exception):
    """Bad command-line input (exit status 2)."""


# ---- loading the user's graph -----------------------------------------------------------
def load_function(spec: str):
    """The function named by `MODULE:FN` (a .py path or an importable module)."""
    module_part, sep, attr = spec.rpartition(":")
    if not sep or not module_part or not attr:
        raise UsageError(f"expected MODULE:FUNCTION (e.g. model.py:build), got {spec!r}")
    if module_part.endswith(".py") or os.sep in module_part:
        module = _module_from_file(module_part)
    else:
        sys.path.insert(0, os.getcwd())
        try:
            module = importlib.import_module(module_part)
        except ModuleNotFoundError as e:
            raise UsageError(f"cannot import {module_part!r}: {e}") from None
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UsageError(f"{module_part} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise UsageError(f"{spec} is a {type(obj).__name__}, not a function")
    return obj


def _module_from_file(path):
    if not os.path.isfile(path):
        raise UsageError(f"no such file: {path}")
    path = os.path.abspath(path)
    name = os.path.splitext(os.path.basename(path))[0]
    if name in sys.modules:  # never shadow a module already imported (json.py, ...)
        name = f"_flowc_user_{name}"
    sys.path.insert(0, os.path.dirname(path))  # so the module's own imports work
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def build_graph(fn):
    """Run the user's builder in a fresh default graph; (fetches, feeds, session)."""
    import compiler as fc
    with fc.Graph().as_default():
        result = fn()
    return split_result(result)


def split_result(result):
    """fetches | (fetches, feeds) | (fetches, feeds, session) -> the three parts."""
    import compiler as fc
    if isinstance(result, tuple) and len(result) == 3 and \
            isinstance(result[2], (fc.Session, type(None))):
        return result
    if isinstance(result, tuple) and len(result) == 2 and _is_feed_list(result[1]):
        return result[0], result[1], None
    return result, None, None


def _is_feed_list(x) -> bool:
    import compiler as fc
    return x is None or (isinstance(x, (list, tuple)) and
                         all(isinstance(t, (fc.Tensor, str)) for t in x))


def default_feeds(fetches):
    """The placeholders `fetches` depend on, in the order they were created."""
    from .convert import _needed_ops
    from .frontend.graph import Operation, Tensor
    items = fetches if isinstance(fetches, (list, tuple)) else [fetches]
    roots = [f.op if isinstance(f, Tensor) else f for f in items
             if isinstance(f, (Tensor, Operation))]
    if not roots:
        return []
    needed = {op for op in _needed_ops(roots, set()) if op.type == "placeholder"}
    return [op.outputs[0] for op in roots[0].graph.get_operations() if op in needed]


# ---- commands -----------------------------------------------------------------------------
@contextlib.contextmanager
def compiling(args, name):
    """The block of a command's compile (from building the user's graph on): its progress
    line on stderr (a terminal, after a second, unless --quiet) and, with --timings, the
    record of its phases (compiler/timings.py), kept as `args.recorded` for `main` to
    print after the command's own output."""
    line = Progress(f"flowc: compiling {name}", enabled=progress_enabled(not args.quiet))
    recording = record() if args.timings else contextlib.nullcontext()
    with recording as rec, progress(line):
        args.recorded = rec
        yield


def load_graph(target):
    """`build_graph` of MODULE:FN, timed as the phase "build_graph" (the user's code)."""
    with phase("build_graph"):
        return build_graph(load_function(target))


def compile_options(args, default_cpu="host"):
    from .options import CompileOptions
    kwargs = {"pipeline": args.pipeline, "opt_level": args.opt_level,
              "target_cpu": args.target_cpu or default_cpu}
    if args.threads:
        kwargs["threads"] = args.threads
    if getattr(args, "device", None):
        kwargs["device"] = args.device
    if getattr(args, "cuda_arch", None):
        kwargs["cuda_arch"] = args.cuda_arch
    return CompileOptions(**kwargs)


def cmd_dump(args, out) -> int:
    from .dump import dump, write_stages
    with compiling(args, args.target):
        fetches, feeds, _ = load_graph(args.target)
        texts = dump(fetches, feeds=feeds, options=compile_options(args))
    if args.stages:
        wanted = [s.strip() for s in args.stages.split(",") if s.strip()]
        unknown = [s for s in wanted if s not in texts]
        if unknown:
            raise UsageError(f"unknown stage(s) {', '.join(unknown)}; this compile has: "
                             f"{', '.join(texts)}")
        texts = {k: v for k, v in texts.items() if k in wanted}
    if args.output:
        for path in write_stages(texts, args.output):
            out.write(path + "\n")
        return 0
    for name, text in texts.items():
        out.write(f"==== {name} ====\n{text.rstrip()}\n\n")
    return 0


def cmd_compile(args, out) -> int:
    from .aot import DEFAULT_CPU
    from .aot import compile as aot_compile
    with compiling(args, args.name):
        fetches, feeds, session = load_graph(args.target)
        if feeds is None:
            feeds = default_feeds(fetches)
        artifact = aot_compile(fetches, feeds, args.output, name=args.name, session=session,
                               options=compile_options(args, DEFAULT_CPU))
    for path in (artifact.library, artifact.header, artifact.manifest):
        out.write(path + "\n")
    return 0


def cmd_inspect(args, out) -> int:
    from runtime.artifact import resolve
    manifest_path, _ = resolve(args.path)
    manifest = _read_json(manifest_path)
    if args.json:
        out.write(json.dumps(manifest, indent=1) + "\n")
        return 0
    out.write(describe_manifest(manifest, manifest_path))
    return 0 if not _problems(manifest, manifest_path) else 1


def _read_json(path):
    from runtime.artifact import ArtifactError
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ArtifactError(f"cannot read the manifest {path!r} (corrupted or truncated?): "
                            f"{e}") from None


def _problems(manifest, manifest_path) -> list:
    """What stops this machine from loading the artifact (empty: nothing)."""
    from runtime.artifact import ArtifactError, check_cpu, check_library, check_schema
    lib = os.path.join(os.path.dirname(os.path.abspath(manifest_path)),
                       str(manifest.get("library", "")))
    problems = []
    for check, arg in ((check_schema, manifest_path), (check_library, lib), (check_cpu, None)):
        try:
            check(manifest, arg) if arg is not None else check(manifest)
        except ArtifactError as e:
            problems.append(str(e))
            if check is check_schema:
                break
        except (KeyError, TypeError) as e:
            problems.append(f"malformed manifest: {e!r}")
            break
    return problems


def describe_manifest(m, manifest_path) -> str:
    """A readable summary of a model manifest."""
    from runtime.signature import format_shape
    target = m.get("target", {})
    lines = [f"model {m.get('name')!r}  ({manifest_path})",
             f"  flowc {m.get('flowc_version')}, ABI version {m.get('abi_version')}, "
             f"library {m.get('library')} ({m.get('library_bytes')} bytes, sha256 "
             f"{str(m.get('library_sha256', ''))[:16]}…)",
             f"  target {target.get('triple')}, cpu {target.get('cpu')}, "
             f"{m.get('threads')} thread(s); features: "
             f"{', '.join(target.get('features', [])) or 'none'}"]
    for section in ("inputs", "outputs", "variables"):
        lines.append(f"  {section}:" + ("" if m.get(section) else " none"))
        for a in m.get(section, []):
            where = f"  # {a['loc']}" if a.get("loc") else ""
            lines.append(f"    {a['name']}: {a['dtype']}{format_shape(a['shape'])}"
                         f"  (C: {a.get('c_name')}){where}")
    symbols = [f"{s['name']} = {s['input']}.shape[{s['axis']}]" for s in m.get("symbols", [])]
    lines.append(f"  symbols: {', '.join(symbols) or 'none'}")
    lines.append(f"  temporaries: {m.get('temporaries', {}).get('formula', '?')} bytes")
    lines.append(f"  functions: {', '.join(m.get('functions', {}).values())}")
    problems = _problems(m, manifest_path)
    lines.append("  loads on this machine: " + ("yes" if not problems else "NO"))
    lines += [f"    {p}" for p in problems]
    return "\n".join(lines) + "\n"


def cmd_cache(args, out) -> int:
    from . import cache
    if args.action == "clear":
        kernels = cache.info()["library_kernels"]
        try:
            count = cache.clear()
        except ValueError as e:  # not a cache folder: refuse, nothing removed
            sys.stderr.write(f"flowc cache: {e}\n")
            return 1
        out.write(f"removed {count} entries and {kernels} library kernels from "
                  f"{cache.cache_dir()}\n")
        return 0
    if args.action == "info":
        i = cache.info()
        out.write(f"location: {i['location']}\nenabled: {'yes' if i['enabled'] else 'no'}"
                  f"\nentries: {i['entries']}\nsize: {i['bytes'] / 1e6:.2f} MB\n"
                  f"kernel library: {i['library_kernels']} kernels in "
                  f"{i['library_objects']} objects, {i['library_bytes'] / 1e6:.2f} MB\n"
                  + (f"unfinished writes: {i['temp']}\n" if i["temp"] else ""))
        return 0
    if not args.target:
        raise UsageError("cache explain needs MODULE:FN")
    from .pipeline import converted_program
    fetches, feeds, _ = build_graph(load_function(args.target))
    options = compile_options(args, "")
    feeds = default_feeds(fetches) if feeds is None else feeds
    # a Session's or fc.jit's compile is keyed on the converted program
    program, _ = converted_program(fetches, feeds, "main")
    out.write(cache.explain(program, options, "converted") + "\n")
    if options.device != "gpu":
        found, total = _library_status(fetches, feeds, options)
        out.write(f"kernel library: {found} of its {total} kernels compiled for this "
                  f"target\n")
    return 0


def _library_status(fetches, feeds, options) -> tuple:
    """(kernels the kernel library holds, kernels) of the program of `fetches`."""
    from .backends.llvm import kernlib
    from .pipeline import optimized_program, plan_and_lower
    program, _ = optimized_program(fetches, feeds, options, "main")
    _, lowered = plan_and_lower(program, options)
    return kernlib.library_status(lowered.kernels, options)


def cmd_view(args, out) -> int:
    from .viz import analyze, render_html, to_dot
    with compiling(args, args.target):
        fetches, feeds, _ = load_graph(args.target)
        model = analyze(fetches, feeds, compile_options(args), title=args.target)
    if args.format == "html":
        files = {"graph.html": render_html(model)}
    else:
        files = {"graph.dot": to_dot(model.stages[0]),
                 "fusion.dot": to_dot(model.stages[-1], model.kernels)}
    os.makedirs(args.output, exist_ok=True)
    for name, text in files.items():
        path = os.path.join(args.output, name)
        with open(path, "w") as f:
            f.write(text)
        out.write(path + "\n")
    return 0


# ---- argument parsing ---------------------------------------------------------------------
def _add_compile_flags(p, default_cpu, compiles=True):
    p.add_argument("--pipeline", default="default", choices=["default", "O0"],
                   help="pass pipeline (O0 runs no pass; default: %(default)s)")
    p.add_argument("--opt-level", type=int, default=3, choices=range(4), metavar="{0..3}",
                   help="LLVM optimization level (default: %(default)s)")
    p.add_argument("--target-cpu", default=None, metavar="CPU",
                   help=f"'host' or an LLVM CPU name such as x86-64-v3 (default: "
                        f"{default_cpu})")
    p.add_argument("--threads", type=int, default=0, metavar="N",
                   help="threads of the generated code (default: all cores)")
    p.add_argument("--device", default=None, choices=["cpu", "gpu"],
                   help="compile for the CPU (LLVM) or the GPU (CUDA; dump shows the CUDA C) "
                        "(default: the graph's device strings, else cpu)")
    p.add_argument("--cuda-arch", default=None, metavar="SM",
                   help="GPU architecture of the cubins (default: sm_90)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    if compiles:
        p.add_argument("--timings", action="store_true",
                       help="print where the compile's time went on stderr: one row per "
                            "phase (own seconds, share of the total, count), summing to "
                            "the total")


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="flowc", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="flowc: TF1-style dataflow graphs compiled to LLVM. Dump every stage "
                    "of a compile, compile a graph ahead of time to a shared object with a "
                    "C header, inspect a compiled artifact.", epilog=EXAMPLES)
    p.add_argument("--traceback", action="store_true",
                   help="show the Python traceback of flowc errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    d = sub.add_parser("dump", help="print or write every stage of a compile",
                       description="Compile the graph that MODULE:FN builds and print every "
                                   "stage (fc.dump), or write one file per stage to DIR.")
    d.add_argument("target", metavar="MODULE:FN", help="model.py:build or pkg.model:build")
    d.add_argument("-o", "--output", metavar="DIR", help="write NN_stage.txt files here")
    d.add_argument("--stages", metavar="A,B", help="only these stages (comma-separated)")
    _add_compile_flags(d, "host")
    c = sub.add_parser("compile", help="compile ahead of time to NAME.so, NAME.h, NAME.json",
                       description="Compile the graph that MODULE:FN builds into DIR/NAME.so "
                                   "(needs only libc, libm, libpthread), NAME.h (C99) and "
                                   "NAME.json (the manifest); see docs/abi.md. Linking needs "
                                   "a C compiler (cc, or $CC).")
    c.add_argument("target", metavar="MODULE:FN", help="model.py:build or pkg.model:build")
    c.add_argument("-o", "--output", metavar="DIR", required=True, help="output directory")
    c.add_argument("--name", default="model", help="model name, a C identifier that "
                                                   "prefixes every symbol (default: model)")
    _add_compile_flags(c, "x86-64-v3")
    i = sub.add_parser("inspect", help="describe a compiled artifact",
                       description="Describe the model in NAME.so / NAME.json / DIR: inputs, "
                                   "outputs, variables, symbols, target, and whether this "
                                   "machine can load it (exit status 1 when not).")
    i.add_argument("path", metavar="PATH", help="NAME.so, NAME.json or a directory")
    i.add_argument("--json", action="store_true", help="print the manifest as is")
    k = sub.add_parser("cache", help="the JIT's compile cache: info, clear, explain",
                       description="info: location, entries, size; clear: remove every "
                                   "entry; explain MODULE:FN: would the JIT's compile of "
                                   "that graph hit, and if not, which part of the key "
                                   "differs from the nearest entry (docs/cache.md).")
    k.add_argument("action", choices=["info", "clear", "explain"])
    k.add_argument("target", nargs="?", metavar="MODULE:FN", help="for explain")
    _add_compile_flags(k, "host", compiles=False)
    v = sub.add_parser("view", help="write the graph viewer (HTML) or DOT files",
                       description="Compile the graph that MODULE:FN builds up to the kernel "
                                   "plan and write DIR/graph.html: one self-contained page "
                                   "with the graph (collapsible name scopes, node details), "
                                   "the fused kernels as coloured groups with their reasons "
                                   "and a slider over the pass stages; or, with --format dot, "
                                   "DIR/graph.dot (user graph) and DIR/fusion.dot (kernels "
                                   "as clusters). See docs/visualization.md.")
    v.add_argument("target", metavar="MODULE:FN", help="model.py:build or pkg.model:build")
    v.add_argument("-o", "--output", metavar="DIR", default=".",
                   help="output directory (default: the current directory)")
    v.add_argument("--format", choices=["html", "dot"], default="html",
                   help="html (default) or dot")
    _add_compile_flags(v, "host")
    return p


COMMANDS = {"dump": cmd_dump, "compile": cmd_compile, "inspect": cmd_inspect,
            "cache": cmd_cache, "view": cmd_view}


def main(argv=None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        status = COMMANDS[args.command](args, sys.stdout)
        recorded = getattr(args, "recorded", None)
        if recorded is not None:  # --timings: after the command's output, on stderr
            sys.stdout.flush()
            sys.stderr.write(recorded.format(f"flowc {args.command}") + "\n")
        return status
    except UsageError as e:
        parser.exit(2, f"flowc {args.command}: error: {e}\n")
    except Exception as e:  # noqa: BLE001  (report, don't crash; --traceback shows it)
        if args.traceback or not _is_flowc_error(e):
            traceback.print_exc()
        sys.stderr.write(f"flowc {args.command}: {type(e).__name__}: {e}\n")
        return 1


def _is_flowc_error(e) -> bool:
    """Errors flowc raises about the user's graph or artifact (their messages name the
    file:line or the path); anything else gets a traceback."""
    from runtime.artifact import ArtifactError
    from runtime.errors import FeedError

    from .convert import CompileError
    from .frontend.graph import GraphError
    from .ir.dims import ShapeError
    return isinstance(e, (ArtifactError, FeedError, CompileError, ShapeError, GraphError))


if __name__ == "__main__":
    sys.exit(main())
