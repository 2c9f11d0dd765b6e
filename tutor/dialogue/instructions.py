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
