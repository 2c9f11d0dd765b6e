"""What the language model is asked to do for each teacher move (the serving prompt and the
alignment training share this one table)."""

from __future__ import annotations

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


# --------------------------------------------------------------------------------------------------
# Lead-in phrasing: a small model writes the reply's first sentence, which answers what the student
# just said; the authored move follows it word for word. A 135M-parameter model on two CPU cores can
# neither phrase a whole move faithfully (most of its free replies fail the guard) nor write it in time
# for a classroom; one sentence it can. The grammar keeps that sentence to words: no digits (so no
# number, right or wrong), no question (the move asks it), one sentence.

# What the model is told about the situation, by move.
LEAD_IN_CUES = {
    "praise_advance": "The student's answer is correct.",
    "subproblem_praise": "The student answered the small question correctly.",
    "misconception_feedback": "The student's answer is wrong; the note explains the likely mistake.",
    "probe": "The student's answer is wrong.",
    "hint": "The student needs a hint; the note gives it.",
    "open_subproblem": "The student needs help; the note asks a smaller question.",
    "explain_concept": "The student asked a question; the note answers it.",
    "bottom_out": "The student has used every hint; the note shows the solution.",
    "redirect": "The student talked about something else.",
    "encourage": "The student is unsure what to do.",
    "decline_answer": "The student asked to be told the answer; the note says why not yet.",
    "refer_teacher": "The student is still stuck after every hint.",
    "point_next": "The problem is already finished.",
}
LEAD_IN_SYSTEM = (
    "You are a warm, encouraging maths tutor talking with a school student. Write ONE short sentence, "
    "at most twelve words, that responds to what the student just said. The teacher's note is read out "
    "right after your sentence, so do not repeat it, do not solve anything, do not use numbers and do not "
    "ask a question. If the answer is wrong, never call it right."
)
# One sentence of words: a capital letter, letters, spaces and a little punctuation, ending in . or !
LEAD_IN_GRAMMAR = r"""root ::= [A-Z] [a-zA-Z ,'-]{2,90} [.!]"""
LEAD_IN_MAX_TOKENS = 32


def lead_in_messages(*, move: str, student_text: str, note: str) -> list[dict[str, str]]:
    """The chat messages that ask for the lead-in sentence. The fixed system text comes first, so a
    server that caches prompt prefixes (llama.cpp does) reads it once."""
    cue = LEAD_IN_CUES.get(move, "Reply kindly.")
    said = " ".join(student_text.split())[:300] or "(nothing yet)"
    return [
        {"role": "system", "content": LEAD_IN_SYSTEM},
        {"role": "user", "content": f"{cue}\nThe student said: \"{said}\"\nThe teacher's note: \"{note}\"\n"
                                    "Your one sentence:"},
    ]
