"""tutor.alignment: reward model, preference data, states, falsehood checks, the scorer's CLI."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tutor.alignment import __main__ as cli
from tutor.alignment import falsehoods, preferences
from tutor.alignment import reward_model as rm
from tutor.alignment.mrbench import DIMENSIONS, LABELS, Example, context_text
from tutor.alignment.states import load_states, prompt_messages
from tutor.dialogue.instructions import MOVE_INSTRUCTIONS

ROOT = Path(__file__).resolve().parents[3]


class HashEncoder:
    """A stand-in for MiniLM: a fixed random unit vector per text, plus one feature for 'answer'."""

    dim = 384

    def encode(self, texts: list[str]) -> torch.Tensor:
        rows = []
        for text in texts:
            g = torch.Generator().manual_seed(int(hashlib.sha256(text.encode()).hexdigest()[:8], 16))
            v = torch.randn(self.dim, generator=g) * 0.1
            v[0] = 3.0 if "answer is" in text else -3.0
            rows.append(v)
        return torch.stack(rows) if rows else torch.zeros(0, self.dim)


def test_alignment_package_imports_no_django() -> None:
    code = (
        "import importlib, json, pkgutil, sys\n"
        "import tutor.alignment as pkg\n"
        "names = sorted(m.name for m in pkgutil.iter_modules(pkg.__path__, 'tutor.alignment.'))\n"
        "for name in names: importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'django')))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_training_prompts_are_the_serving_prompts_own() -> None:
    from tutor import dialogue_bridge
    from tutor.dialogue import instructions

    assert dialogue_bridge.tutor_messages is instructions.tutor_messages
    assert set(MOVE_INSTRUCTIONS) == set(instructions.LEAD_IN_OPENERS)


def test_context_text_reads_strings_and_turn_lists() -> None:
    assert context_text("Tutor: hi") == "Tutor: hi"
    turns = [{"role": "tutor", "content": "What is 2+2?"}, {"speaker": "student", "text": "5"}, "plain"]
    assert context_text(turns) == "Tutor: What is 2+2?\nStudent: 5\nplain"
    with pytest.raises(ValueError):
        context_text(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        context_text([{"role": "tutor", "content": 3}])


def test_group_folds_keep_each_conversation_in_one_fold() -> None:
    groups = [f"c{i % 7}" for i in range(50)]
    folds = rm.group_folds(groups, 3)
    assert sorted(i for fold in folds for i in fold) == list(range(50))
    for fold in folds:
        inside = {groups[i] for i in fold}
        others = {groups[i] for other in folds if other is not fold for i in other}
        assert not inside & others


def test_macro_f1() -> None:
    assert rm.macro_f1([0, 1, 2], [0, 1, 2]) == 1.0
    assert rm.macro_f1([0, 0, 1, 1], [0, 0, 0, 0], n_classes=2) == pytest.approx((2 / 3 + 0) / 2)


def _examples(n: int = 120) -> list[Example]:
    out = []
    for i in range(n):
        good = i % 2 == 0
        label = 2 if good else 0
        out.append(Example(conversation_id=f"c{i // 4}", tutor=f"t{i % 4}", context=f"Student: I got {i}",
                           response=("Can you check the first step?" if good else "The answer is 12.") + f" #{i}",
                           labels=(label,) * len(DIMENSIONS)))
    return out


def test_reward_heads_learn_a_signal_and_cross_validate_by_conversation() -> None:
    examples = _examples()
    encoder = HashEncoder()
    x = rm.features(encoder, [e.context for e in examples], [e.response for e in examples])
    assert x.shape == (len(examples), 4 * encoder.dim)
    report = rm.cross_validate(examples, x, k=3, settings=rm.HeadSettings(epochs=80))
    # Two classes are present, so a perfect 3-way macro-F1 is 2/3 (the absent class scores 0).
    for d in DIMENSIONS:
        assert report[d]["accuracy"] > 0.95
        assert report[d]["macro_f1_lenient"] > 0.95


def test_score_cli_keeps_keys_and_adds_labels_and_probabilities(tmp_path, monkeypatch, capsys) -> None:
    examples = _examples(40)
    model = rm.RewardModel.train(HashEncoder(), examples, rm.HeadSettings(epochs=60))
    weights = tmp_path / "heads.pt"
    model.save(weights)
    monkeypatch.setattr("tutor.alignment.encoder.SentenceEncoder", lambda *a, **k: HashEncoder())
    data = tmp_path / "in.jsonl"
    rows = [{"id": 1, "context": "Student: 5", "response": "The answer is 12."},
            {"id": 2, "context": [{"role": "student", "content": "5"}], "response": "Can you check the first step?"}]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert cli.main(["--weights", str(weights), "score", str(data)]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [o["id"] for o in out] == [1, 2]
    assert out[0]["context"] == rows[0]["context"] and out[1]["context"] == rows[1]["context"]
    for o in out:
        assert set(o["labels"]) == set(DIMENSIONS) and set(o["labels"].values()) <= set(LABELS)
        for d in DIMENSIONS:
            assert sum(o["scores"][d].values()) == pytest.approx(1.0, abs=1e-3)
    assert out[0]["labels"]["Providing_Guidance"] == "No"
    assert out[1]["labels"]["Providing_Guidance"] == "Yes"


@pytest.mark.parametrize("content, message", [
    ("not json\n", "not JSON"),
    ('["a"]\n', "expected a JSON object"),
    ('{"context": "x"}\n', "'response' must be a string"),
    ('{"response": "x"}\n', "'context' is missing"),
    ('{"context": 3, "response": "x"}\n', "context must be a string or a list"),
])
def test_score_cli_rejects_bad_input_with_exit_2(tmp_path, capsys, content, message) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text(content)
    assert cli.main(["score", str(data)]) == 2
    err = capsys.readouterr().err
    assert message in err and "line 1" in err


def test_score_cli_missing_file_exits_2(tmp_path, capsys) -> None:
    assert cli.main(["score", str(tmp_path / "nope.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_states_hold_out_whole_items_and_carry_the_policy_move() -> None:
    train, held = load_states()
    assert train and held
    assert not {s.item for s in train} & {s.item for s in held}
    moves = {s.move for s in train + held}
    assert {"hint", "probe", "misconception_feedback"} <= moves
    state = held[0]
    messages = prompt_messages(state)
    # Serving's prompt: the student's last words, then this turn's task with the authored note.
    assert messages[-1]["role"] == "user" and messages[-1]["content"].startswith(state.history[-1][1] + "\n\n")
    assert f"<authored>{state.authored_text}</authored>" in messages[-1]["content"]


def test_human_pairs_prefer_the_better_labelled_response() -> None:
    examples = _examples(16)
    pairs = preferences.human_pairs(examples)
    assert pairs
    for pair in pairs:
        assert "answer is" in pair["rejected"][0]["content"]
        assert "answer is" not in pair["chosen"][0]["content"]


def test_sampled_pairs_reject_the_reply_that_reveals_the_answer() -> None:
    _, held = load_states()
    state = next(s for s in held if s.move == "hint" and not s.released)
    model = rm.RewardModel.train(HashEncoder(), _examples(40), rm.HeadSettings(epochs=30))
    leak = f"The answer is {state.answer}."
    pairs = preferences.sampled_pairs(model, [state], [[state.authored_text, leak]])
    assert len(pairs) == 1
    assert pairs[0]["rejected"][0]["content"] == leak
    assert pairs[0]["chosen"][0]["content"] == state.authored_text


def test_falsehood_checks() -> None:
    assert falsehoods.false_arithmetic("So $3 \\times 4 = 13$.")
    assert not falsehoods.false_arithmetic("3 x 4 = 12 and 10 - 4 = 6")
    assert falsehoods.wrong_final_answer("So the answer is 7.", "5")
    assert not falsehoods.wrong_final_answer("So the answer is 5.", "5")
    assert falsehoods.wrong_final_answer("The answer is indeed 24.", "-24")  # a base-model reply, verbatim
    assert falsehoods.wrong_final_answer("The answer is: 3", "4")
    assert falsehoods.confirms_wrong_guess("Yes, well done!", False)
    assert not falsehoods.confirms_wrong_guess("That is not correct yet.", False)
    assert not falsehoods.confirms_wrong_guess("Well done!", True)
    assert not falsehoods.confirms_wrong_guess("Move three steps to the right.", False)
