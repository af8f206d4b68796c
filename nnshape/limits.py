"""Every bound nnshape puts on what a spec can make it do, in one place.

A spec is untrusted input (a pull request, a pasted file): each limit here turns a spec that would
cost unbounded time or memory into a located error (docs/spec-language.md, "Limits"). Modules
import the constants from here; tests pin each one at its boundary.
"""

# reading
MAX_SPEC_BYTES = 16 * 1024 * 1024  # a spec file or text (E0003)
MAX_LINE_CHARS = 100_000  # characters of one physical line
MAX_STATEMENTS = 200_000  # as many as the analysis allows rows (MAX_ROWS): past it, stop reading (E0507)

# parsing and values
MAX_NESTING = 64  # indentation levels of blocks
MAX_EXPR_DEPTH = 100  # nesting of one expression
MAX_INT = 2**63 - 1  # any integer value, as torch's int64 sizes
MAX_TERMS = 1_000  # terms of one symbolic size; real ones have a few (L, L², L·D ...) (E0510)
MAX_COEFF_BITS = 256  # bits of one coefficient of a symbolic size inside the analysis (E0510; in an expression: 2**63 - 1, E0503)
MAX_DEGREE = 64  # degree of one term of a symbolic size: L^64 (a rank-32 tensor of L-sized dims is L^32) (E0510)

# analysis
MAX_ROWS = 200_000
MAX_CALL_DEPTH = 100  # def calls nested in def calls
MAX_REPORTED_ERRORS = 20
MAX_RANK = 32  # dimensions of a tensor, batch included (NumPy's limit before 2.0) (E0506)
MAX_ROW_TEXT = 32_000_000  # characters of all rows' paths, labels and symbolic sizes (1 MB of dense layers: ~1.5 M)
MAX_UNROLLED_ROWS = 50_000  # a pass costs its rows' time: this bounds a shape-changing repeat to ~2 s

# budget files and globs (nnshape check)
MAX_BUDGET_BYTES = 1024 * 1024  # a budget file (pyproject.toml included)
MAX_BUDGET_TABLES = 1_000  # spec patterns in one budget file
MAX_PATTERN_CHARS = 1_000  # characters of one pattern
MAX_GLOB_STEPS = 50_000_000  # steps of matching paths to patterns in one command (each match: path × pattern)
MAX_GLOB_ENTRIES = 200_000  # files and folders one command's globs look at

# reporting
MAX_SHOWN = 160  # characters of a source line shown in a report
MAX_COMPARED = 500  # candidates compared in full per suggestion (difflib's ratio is quadratic)

# building (verify, export)
MAX_COPIES = 10_000  # copies of one collapsed repeat body the builder makes
MAX_MODULES = 100_000  # modules (layers and containers, every repeated copy) verify builds: checked before building (E0508); a million took 400 s and 5.9 GB
MAX_EXPORT_BYTES = 16 * 1024 * 1024  # the file `nnshape export` writes, as large as a spec may be (E0603)

# pictures (draw, report)
MAX_DRAW_NODES = 3_000  # nodes of one diagram: Graphviz's layout grows faster than linearly (E0622)
MAX_REPORT_ROWS = 20_000  # rows of a report's table (deeper rows fold into their blocks)
MAX_CHART_BARS = 1_000  # bars of a per-layer chart (the largest, in network order)
DOT_TIMEOUT_S = 300  # seconds Graphviz may take to lay out one diagram (E0623)

# importing (nnshape import hf: config.json is untrusted data)
MAX_CONFIG_BYTES = 4 * 1024 * 1024  # a config.json (real ones are a few kB; 1000 labels ~50 kB)
MAX_CONFIG_DEPTH = 32  # nesting of objects and arrays
MAX_CONFIG_INT = 2**31 - 1  # any size in a config (vocabularies, widths, layer counts)

# planning (per-device memory, docs/will-it-fit.md)
MAX_PLAN_TENSORS = 200_000  # parameter tensors handed out one by one in ZeRO-1/2's greedy partition; past it, an even split
MAX_DEVICES = 1_048_576  # dp × tp × pp
MAX_FIT_ANALYSES = 24  # re-analyses when searching the largest micro-batch or concurrency that fits
MAX_DISTRIBUTED_RANKS = 16  # processes `verify --dp/--tp` starts on this machine
