#!/usr/bin/env python3
"""Converts Porcupine's test histories (github.com/anishathalye/porcupine, test_data/)
to Jepsen history.edn files, one map per line, for `harness bench check-history`.

Usage: porcupine-to-edn.py PORCUPINE_CHECKOUT OUT_DIR

Each output is named after its source with Porcupine's expected verdict appended
(`etcd_000-bad.edn`, `c10-ok.edn`), read from porcupine_test.go, so the benchmark
can say whether each verdict matches. The Jepsen etcd logs hold one register (no
:key); their lines `P :fail :read :timed-out` become :fail (nothing happened, as
Porcupine's unconstrained return says) and `P :info ...` keeps Jepsen's :info.
Nothing of Porcupine is copied into this repository: run this beside a checkout.
"""
import os
import re
import sys

JEPSEN_LINE = re.compile(r"^INFO\s+jepsen\.util\s+-\s+(\d+)\s+:(\w+)\s+:(\w+)\s+(.*)$")


def edn_value(text):
    text = text.strip()
    m = re.fullmatch(r"\[(\d+)\s+(\d+)\]", text)
    if m:
        return f"[{m.group(1)} {m.group(2)}]"
    if text == "nil" or re.fullmatch(r"-?\d+", text) or text.startswith(":"):
        return text
    raise ValueError(f"unexpected value {text!r}")


def convert_jepsen(src, dst):
    out = []
    index = 0
    with open(src) as f:
        for line in f:
            m = JEPSEN_LINE.match(line.rstrip("\n"))
            if not m:
                continue
            process, kind, fn, value = m.groups()
            value = edn_value(value)
            if kind == "invoke" and fn == "read":
                value = "nil"
            out.append(f"{{:process {process}, :type :{kind}, :f :{fn}, :value {value}, :index {index}}}")
            index += 1
    with open(dst, "w") as f:
        f.write("\n".join(out) + "\n")


def convert_kv(src, dst):
    # Porcupine's kv logs are EDN already; give each line an :index.
    out = []
    with open(src) as f:
        for i, line in enumerate(l for l in f if l.strip()):
            out.append(line.rstrip("\n").rstrip("}") + f", :index {i}}}")
    with open(dst, "w") as f:
        f.write("\n".join(out) + "\n")


def expectations(checkout):
    text = open(os.path.join(checkout, "porcupine_test.go")).read()
    jepsen = {int(n): v == "true" for n, v in re.findall(r"checkJepsen\(t, (\d+), (true|false)\)", text)}
    kv = {name: v == "true" for name, v in re.findall(r'checkKv\(t, "([^"]+)", (true|false), true\)', text)}
    return jepsen, kv


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    checkout, out_dir = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    jepsen, kv = expectations(checkout)
    count = 0
    for n, ok in sorted(jepsen.items()):
        src = os.path.join(checkout, "test_data", "jepsen", f"etcd_{n:03d}.log")
        convert_jepsen(src, os.path.join(out_dir, f"etcd_{n:03d}-{'ok' if ok else 'bad'}.edn"))
        count += 1
    for name, ok in sorted(kv.items()):
        src = os.path.join(checkout, "test_data", "kv", f"{name}.txt")
        base = name.rsplit("-", 1)[0]
        convert_kv(src, os.path.join(out_dir, f"{base}-{'ok' if ok else 'bad'}.edn"))
        count += 1
    print(f"{count} histories written to {out_dir}")


if __name__ == "__main__":
    main()
