"""PII scrubbing benchmark: Presidio's default set-up vs tunegate's scrubber, same documents, one run.

(a) Presidio default: AnalyzerEngine() with the same spaCy model (NlpEngineProvider), default
    recognizers, ``.analyze`` per document, AnonymizerEngine ``replace``.
(b) tunegate: ``scrub_file`` end to end (read → scrub on all cores → residual scan → write), once
    with worker start-up included and once with the pool already up (steady state; Presidio's engine
    is likewise built before its clock starts).
Recall/precision per entity type (see tasks/pii_eval.py for the scoring rule) and domain terms lost
for both, on sample-corpus documents; throughput only on ../shared/data/cfpb/complaints.csv if present.

    .venv/bin/python benchmarks/pii_bench.py --docs 1200 --cfpb-docs 300
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TUNEGATE_PII_KEY", "benchmark-key")

# tasks.pii_engine is imported inside functions only: worker processes re-import this script, and must
# not pull in Presidio's optional transformers/torch imports before their initializer blocks them.
from tasks.config import load_config
from tasks.pii_eval import format_table, score, spans_from_file
from tasks.pii_stream import ScrubEngine, resolve_workers, scrub_file
from tasks.sample_data import write_sample

CFPB = ROOT.parent / "shared" / "data" / "cfpb" / "complaints.csv"


def presidio_default(model: str):
    import presidio_analyzer
    import yaml
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_anonymizer import AnonymizerEngine

    # Presidio's own default NLP configuration (entity mapping, ignored labels), only the model swapped.
    conf = yaml.safe_load((Path(presidio_analyzer.__file__).parent / "conf" / "default.yaml").read_text())
    conf["models"] = [{"lang_code": "en", "model_name": model}]
    nlp = NlpEngineProvider(nlp_configuration=conf).create_engine()
    return AnalyzerEngine(nlp_engine=nlp), AnonymizerEngine()


def run_presidio(analyzer, anonymizer, texts: list[str]) -> tuple[float, float, list[list[tuple[int, int, str]]]]:
    """Wall seconds, CPU seconds and detected spans of Presidio's default, one document at a time."""
    analyzer.analyze(texts[0], language="en")  # warm-up (lazy loads), not timed
    spans, t0, c0 = [], time.perf_counter(), time.process_time()
    for text in texts:
        results = analyzer.analyze(text, language="en")
        anonymizer.anonymize(text=text, analyzer_results=results)
        spans.append([(r.start, r.end, r.entity_type) for r in results])
    return time.perf_counter() - t0, time.process_time() - c0, spans


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def main() -> int:
    import logging

    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    logging.getLogger("tldextract").setLevel(logging.CRITICAL)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=1200)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--cfpb-docs", type=int, default=300)
    ap.add_argument("--config", default=str(ROOT / "examples" / "claims.yaml"))
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "pii_bench.json"))
    args = ap.parse_args()
    pii = load_config(args.config).pii
    workers = resolve_workers(pii.workers)
    report: dict = {"cores": workers, "loadavg_start": os.getloadavg(), "docs": args.docs}
    tmp = Path(tempfile.mkdtemp(prefix="pii-bench-"))

    src = write_sample(tmp / "claims.jsonl", rows=args.docs, seed=args.seed)
    records = _read_jsonl(src)
    gold = {g["id"]: g for g in _read_jsonl(Path(f"{src}.pii.jsonl"))}
    texts = [r["text"] for r in records]

    analyzer, anonymizer = presidio_default(pii.spacy_model)
    secs_a, cpu_a, spans_a = run_presidio(analyzer, anonymizer, texts)
    metrics_a, lost_a = score(gold, {r["id"]: s for r, s in zip(records, spans_a)})

    t0 = time.perf_counter()
    stats = scrub_file(src, tmp / "out.jsonl", "text", pii, b"benchmark-key", tmp / "out.spans.jsonl", workers=workers)
    secs_b = time.perf_counter() - t0
    metrics_b, lost_b = score(gold, spans_from_file(tmp / "out.spans.jsonl"))

    # Steady state: the same path with the worker pool already up (as Presidio's engine is built untimed).
    with ScrubEngine(pii, b"benchmark-key", workers).start() as engine:
        t0 = time.perf_counter()
        scrub_file(src, tmp / "out2.jsonl", "text", pii, b"benchmark-key", tmp / "out2.spans.jsonl", engine=engine)
        secs_warm = time.perf_counter() - t0

    # CPU seconds per document on one core, in this process: comparable even when the machine is busy.
    from tasks.pii_engine import Scrubber

    one = Scrubber(pii, b"benchmark-key")
    one.scrub_batch(texts[:20])
    c0 = time.process_time()
    one.scrub_batch(texts)
    cpu_b = time.process_time() - c0
    cpu_rate_a, cpu_rate_b = args.docs / cpu_a, args.docs / cpu_b

    rate_a, rate_b, rate_w = args.docs / secs_a, args.docs / secs_b, args.docs / secs_warm
    report["sample"] = {
        "presidio_default": {"docs_per_s": round(rate_a, 1), "metrics": metrics_a, "domain_terms_lost": lost_a},
        "tunegate": {"docs_per_s": round(rate_b, 1), "workers": workers, "metrics": metrics_b,
                     "domain_terms_lost": lost_b, "residual_rate": stats.residual_rate},
        "tunegate_pool_warm": {"docs_per_s": round(rate_w, 1)},
        "ratio_with_startup": round(rate_b / rate_a, 2), "ratio_steady_state": round(rate_w / rate_a, 2),
        "docs_per_cpu_s": {"presidio_default": round(cpu_rate_a, 1), "tunegate": round(cpu_rate_b, 1),
                           "ratio_per_core": round(cpu_rate_b / cpu_rate_a, 2)},
    }
    print(f"== sample corpus: {args.docs} docs, {workers} cores, load avg at start {report['loadavg_start']}")
    print(f"Presidio default        {rate_a:8.1f} docs/s")
    print(f"tunegate (file, {workers} procs) {rate_b:8.1f} docs/s   ratio {rate_b / rate_a:.2f}x  (start-up included)")
    print(f"tunegate (pool warm)    {rate_w:8.1f} docs/s   ratio {rate_w / rate_a:.2f}x  (steady state)")
    print(f"per core, CPU time:      Presidio {cpu_rate_a:.1f} docs/cpu-s, tunegate {cpu_rate_b:.1f} docs/cpu-s, "
          f"ratio {cpu_rate_b / cpu_rate_a:.2f}x (x{workers} cores for tunegate's pool on an idle machine)")
    print("\n-- Presidio default\n" + format_table(metrics_a, lost_a))
    print("\n-- tunegate\n" + format_table(metrics_b, lost_b))

    if CFPB.is_file() and args.cfpb_docs:
        import pandas as pd

        df = pd.read_csv(CFPB, nrows=args.cfpb_docs, dtype=str)
        cf_texts = df["text"].fillna("").tolist()
        secs_ca, _, _ = run_presidio(analyzer, anonymizer, cf_texts)
        df.to_csv(tmp / "cfpb.csv", index=False)
        loose = pii.model_copy(update={"residual_max_rate": 1.0})  # throughput only: no gate on foreign data
        with ScrubEngine(loose, b"benchmark-key", workers).start() as engine:
            t0 = time.perf_counter()
            scrub_file(tmp / "cfpb.csv", tmp / "cfpb_out.csv", "text", loose, b"benchmark-key",
                       tmp / "cfpb.spans.jsonl", engine=engine)
            secs_cb = time.perf_counter() - t0
        n = len(cf_texts)
        report["cfpb"] = {"docs": n, "presidio_default_docs_per_s": round(n / secs_ca, 1),
                          "tunegate_docs_per_s": round(n / secs_cb, 1), "ratio": round(secs_ca / secs_cb, 2)}
        print(f"\n== CFPB complaints: {n} docs  Presidio default {n / secs_ca:.1f} docs/s, "
              f"tunegate (pool warm) {n / secs_cb:.1f} docs/s, ratio {secs_ca / secs_cb:.2f}x")
    else:
        why = "--cfpb-docs 0" if CFPB.is_file() else "../shared/data/cfpb/complaints.csv absent"
        print(f"\n== CFPB complaints: skipped ({why})")

    report["loadavg_end"] = os.getloadavg()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(f"\nload avg at end {report['loadavg_end']}; full report: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
