"""Stage 3, fine-tuning: a scrubbed dataset in, a model folder out.

In: the scrubbed dataset and ``SplitConfig``/``TrainConfig``. Out: the recorded split and ``ModelRef``,
a folder with the LoRA adapter (or merged weights), tokenizer and label map.

- ``split``: the stratified, seeded train/validation/test split, recorded so every run tests on the same rows.
- ``launch``: runs ``recipe`` under ``torchrun`` as a subprocess (one GPU, many GPUs, many nodes, CPU).
- ``recipe``: setup → train → save → cleanup, in each torchrun process; ``data`` tokenizes and batches;
  ``model`` builds the model (base + LoRA), wraps it for DDP/FSDP, and holds the loss and validation.
- ``nodes``: what node 0 leaves in the work folder for other nodes; ``join``: ``tunegate train-node`` on them.
- ``checkpoint``: resumable checkpoints, written whole or not at all; ``devices``: the fast dtype.
"""

# In the model folder beside the adapter: the last validation pass's logits and labels (numbers, no text), from
# which the pipeline's calibration fits its temperature (tasks/evaluate/calibration.py).
VAL_LOGITS_FILE = "val_logits.npz"
