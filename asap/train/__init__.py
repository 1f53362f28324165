"""The `sft` stage: full fine-tuning of the student on one method's SFT dataset with TRL (or
Unsloth on GPUs), resumable from checkpoints, with its report and loss curve.
"""
