"""Pedagogical alignment of the tutor's language model (issue 21).

Plain torch + transformers + trl + peft; no Django anywhere in this package, so it runs as a batch
job (``python -m tutor.alignment ...``) and nothing at run time imports it.

- ``encoder``: the MiniLM sentence encoder, unpacked from its PyPI package (never downloaded);
- ``mrbench``: MRBench (BEA 2025) tutor responses and their four human labels;
- ``reward_model``: heads on frozen MiniLM embeddings, grouped cross-validation, the JSONL scorer;
- ``states``: dialogue states from a course pack, with the move the dialogue policy picks;
- ``preferences``: preference pairs from human labels and from sampled replies;
- ``tuning``: SFT then DPO with LoRA on SmolLM2-135M-Instruct, resumable;
- ``evaluate``: base against aligned on held-out states.
"""
