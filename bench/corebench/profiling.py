"""cProfile helpers: run a callable under the profiler, keep the .prof file and a top-N summary."""

from __future__ import annotations

import cProfile
import io
import pstats
from collections.abc import Callable
from pathlib import Path
from typing import Any


def top(stats: pstats.Stats, key: str, n: int) -> list[dict[str, Any]]:
    stats.sort_stats(key)
    out = []
    for func in stats.fcn_list[:n]:  # type: ignore[attr-defined]
        _cc, nc, tt, ct, _ = stats.stats[func]  # type: ignore[attr-defined]
        filename, line, name = func
        short = filename.split("/site-packages/")[-1].split("/src/")[-1]
        out.append(
            {"function": f"{short}:{line}({name})", "ncalls": nc, "tottime_s": round(tt, 3), "cumtime_s": round(ct, 3)}
        )
    return out


def profiled(fn: Callable[[], Any], path: Path, n: int = 25) -> tuple[Any, dict[str, Any]]:
    prof = cProfile.Profile()
    result = prof.runcall(fn)
    prof.dump_stats(str(path))
    stats = pstats.Stats(prof, stream=io.StringIO())
    total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    summary = {
        "prof_file": str(path),
        "total_tottime_s": round(total, 3),
        "top_tottime": top(stats, "tottime", n),
        "top_cumtime": top(stats, "cumulative", n),
    }
    text = io.StringIO()
    pstats.Stats(prof, stream=text).sort_stats("cumulative").print_stats(60)
    pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(40)
    path.with_suffix(".txt").write_text(text.getvalue())
    return result, summary
