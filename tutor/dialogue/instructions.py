"""What the language model is asked to do for each teacher move (the serving prompt and the
alignment training share this one table)."""

from __future__ import annotations

import functools

MOVE_INSTRUCTIONS = {
    "praise_advance": "Praise the student briefly and specifically for the correct answer.",
    "subproblem_praise": "Confirm the small question was answered correctly and ask the next question in the note.",
    "misconception_feedback": "Say plainly and kindly that the answer is not right, point out the likely mistake as "
                              "in the teacher's note, and ask the student to try again. Do not give the answer.",
    "probe": "Say plainly and kindly that the answer is not right, then ask one short question that makes the "
             "student explain their reasoning. Do not give the answer.",
    "hint": "Give this hint in your own friendly words. Do not go beyond it and do not give the answer.",
    "open_subproblem": "Ask this smaller question to help the student. Do not give the main answer.",
    "explain_concept": "Answer the student's question clearly and briefly using the teacher's note.",
    "bottom_out": "Explain the solution using the teacher's note, including the answer.",
    "redirect": "Kindly bring the student back to the problem.",
    "encourage": "Encourage the student to try the step, without giving the answer.",
    "decline_answer": "Acknowledge the request, say plainly that you will not give the answer yet and why, and give "
                      "the next step from the teacher's note. Do not give the answer.",
    "refer_teacher": "Say kindly that there are no more hints, that the student should ask their teacher, and that "
                     "a similar problem is offered. Do not give the answer.",
    "point_next": "Tell the student the problem is finished and point them to the Next item button.",
}


TUTOR_SYSTEM = (
    "You are a patient, encouraging math tutor for a school student. You never give away the final answer "
    "unless told to. Reply in one to three short sentences."
)
# Authored content travels inside these markers, so any backend (the scripted one in particular) can
# tell it apart from the instructions around it. tutor.llm.base reads them with the same two strings
# (the dialogue and the model layer import nothing of each other; a test holds them equal).
GROUNDING_OPEN = "<authored>"
GROUNDING_CLOSE = "</authored>"


def tutor_messages(*, move: str, authored_text: str, statement: str | None, step_prompt: str | None,
                   history: list[tuple[str, str]]) -> list[dict[str, str]]:
    """The chat that asks the model to phrase a move (serving and alignment training share it).

    What changes least comes first, so llama.cpp's per-slot prompt cache reuses it: the fixed system
    text, then the problem, then the last four turns (``(role, text)``, role "student" or "tutor");
    this turn's task and the authored note come last.
    """
    messages = [{"role": "system", "content": TUTOR_SYSTEM}]
    if statement is not None:
        messages.append({"role": "user", "content": f"(The problem: {statement}\nStep: {step_prompt})"})
        messages.append({"role": "assistant", "content": "I understand the problem."})
    for role, text in history[-4:]:
        messages.append({"role": "user" if role == "student" else "assistant", "content": text[:600]})
    instruction = MOVE_INSTRUCTIONS.get(move, "Reply briefly and kindly.")
    task = (f"(Tutor, your task now: {instruction} Base your reply only on the teacher's note between the "
            f"markers: {GROUNDING_OPEN}{authored_text}{GROUNDING_CLOSE})")
    if messages[-1]["role"] == "user":
        messages[-1] = {"role": "user", "content": f"{messages[-1]['content']}\n\n{task}"}
    else:
        messages.append({"role": "user", "content": task})
    return messages

# --------------------------------------------------------------------------------------------------
# Lead-in phrasing: a small model writes the reply's first sentence, which answers what the student
# just said; the authored move follows it word for word. A 135M-parameter model on two CPU cores can
# neither phrase a whole move faithfully (most of its free replies fail the guard) nor write it in time
# for a classroom; one short sentence it can, when guided. Left free, it wrote "I'm glad you're happy
# with your math tutor." to a wrong answer; so a grammar (GBNF, which llama.cpp's server applies while
# decoding) lets the sentence begin only with an opener that fits the move (the model picks which) and
# go on only in plain words from a small vocabulary: no digits, no question, no verdict on the answer
# beyond the move's own. docs/llm-serving.md has the measurements.

# The openers that fit each move: the model chooses one and may continue it.
LEAD_IN_OPENERS: dict[str, tuple[str, ...]] = {
    "praise_advance": ("Yes", "Well done", "Exactly", "Great work", "Nice work"),
    "subproblem_praise": ("Yes", "Well done", "Exactly", "Nice work"),
    "misconception_feedback": ("Not quite", "Good try, but not yet", "Close, but not quite",
                               "Nice effort, but not yet"),
    "probe": ("Not quite", "Good try, but not yet", "Hmm, not yet", "Nice effort, but not yet"),
    "hint": ("No worries", "That is okay", "Let us take it step by step", "Here is a hint", "Good effort so far"),
    "open_subproblem": ("No worries", "That is okay", "Let us make it smaller", "Let us take it step by step"),
    "explain_concept": ("Good question", "Great question", "I am glad you asked"),
    "bottom_out": ("Let us go through it together", "Here is how it works", "You worked hard on this"),
    "redirect": ("That sounds fun", "Interesting", "Let us get back to the problem"),
    "encourage": ("You can do this", "No worries", "That is okay", "Let us start small"),
    "decline_answer": ("I know it is tempting", "I hear you", "You can do this"),
    "refer_teacher": ("You have worked hard on this", "This one is tricky", "That is okay"),
    "point_next": ("You have finished this one", "Nice work", "Well done"),
}
# The words a lead-in may go on with, after a comma: plain, kind, and without numbers or verdicts.
LEAD_IN_WORDS = (
    "a", "about", "again", "all", "and", "are", "as", "at", "back", "be", "best", "by", "can", "careful", "carefully",
    "check", "close", "do", "doing", "effort", "every", "everyone", "fine", "first", "focus", "for", "friend", "fun",
    "gets", "go", "going", "good", "great", "happens", "help", "here", "how", "idea", "in", "is", "it", "it's",
    "just", "keep", "learn", "learning", "let's", "look", "lots", "me", "mind", "more", "my", "nearly", "next",
    "nice", "not", "now", "of", "on", "our", "out", "part", "piece", "problem", "question", "really", "see",
    "slowly", "so", "sometimes", "step", "steps", "still", "stuck", "sure", "that", "that's", "the", "there",
    "think", "thinking", "this", "time", "to", "together", "tricky", "try", "trying", "us", "very", "way", "we",
    "we'll", "well", "what", "with", "work", "working", "yet", "you", "you're", "your", "yourself",
)
LEAD_IN_SYSTEM = (
    "You are a warm, encouraging maths tutor for a school student. Answer the student's message with one "
    "short, kind sentence."
)
LEAD_IN_MAX_TOKENS = 24
LEAD_IN_MAX_WORDS = 8  # after the opener


def _gbnf_literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@functools.lru_cache(maxsize=64)
def lead_in_grammar(move: str) -> str:
    """The GBNF grammar of the move's lead-in: one of its openers, then either the end of the sentence
    or a comma and up to ``LEAD_IN_MAX_WORDS`` words of ``LEAD_IN_WORDS``."""
    openers = LEAD_IN_OPENERS.get(move, ("Okay",))
    return "\n".join([
        f"root ::= opener ( [.!] | \", \" word (\" \" word){{0,{LEAD_IN_MAX_WORDS - 1}}} [.!] )",
        "opener ::= " + " | ".join(_gbnf_literal(o) for o in openers),
        "word ::= " + " | ".join(_gbnf_literal(w) for w in LEAD_IN_WORDS),
    ])


def lead_in_messages(*, student_text: str) -> list[dict[str, str]]:
    """The chat messages that ask for the lead-in sentence. The fixed system text comes first, so a
    server that caches prompt prefixes (llama.cpp does) reads it once; the student's message is all
    that is new, so the reply starts within a few tokens of prefill."""
    said = " ".join(student_text.split())[:300] or "(nothing yet)"
    return [{"role": "system", "content": LEAD_IN_SYSTEM}, {"role": "user", "content": said}]
