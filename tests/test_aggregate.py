"""scripts/aggregate.py: mean and sample standard deviation over seeds, per group, from run folders alone."""
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fake_run(root, group, seed, rows):
    folder = root / f"{group}_s{seed}"
    folder.mkdir(parents=True)
    (folder / "options.json").write_text(json.dumps({"group": group, "seed": seed}))
    lines = ["epoch,e_recall@1,mAP_R"] + [",".join(map(str, row)) for row in rows]
    (folder / "test_embeds.csv").write_text("\n".join(lines) + "\n")


def aggregate(*args):
    done = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "aggregate.py"), *map(str, args)],
                          capture_output=True, text=True, check=True)
    return {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in done.stdout.splitlines()[2:]}


def test_last_and_best_epoch_means_and_sample_spreads(tmp_path):
    fake_run(tmp_path, "a", 0, [(0, 0.1, 0.0), (1, 0.5, 0.2), (2, 0.4, 0.3)])
    fake_run(tmp_path, "a", 1, [(0, 0.1, 0.0), (1, 0.7, 0.4), (2, 0.6, 0.5)])
    fake_run(tmp_path, "b", 0, [(0, 0.2, 0.1)])
    last = aggregate(tmp_path)
    # a: recall 0.4, 0.6 -> mean 0.5, sample std 0.1414; MAP@R 0.3, 0.5 -> 0.4 +- 0.1414.
    assert last["a"] == ["0,1", "2", "0.5000 ± 0.1414", "0.4000 ± 0.1414"]
    assert last["b"] == ["0", "0", "0.2000 ± nan", "0.1000 ± nan"]
    fake_run(tmp_path, "c", 0, [(0, 0.2, "nan")])
    fake_run(tmp_path, "c", 1, [(0, 0.4, 0.1)])
    assert aggregate(tmp_path)["c"][2:] == ["0.3000 ± 0.1414", "nan ± nan"]
    best = aggregate(tmp_path, "--epoch", "best")
    assert best["a"] == ["0,1", "1", "0.6000 ± 0.1414", "0.3000 ± 0.1414"]
