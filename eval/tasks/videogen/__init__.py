"""Video prediction metrics for FAR: PSNR / SSIM per future frame on held-out synthetic clips.

FVD is not implemented: it needs the I3D network, which cannot be loaded offline here (the FAR
code downloads it at run time), and at 16x16 pixels I3D features would be meaningless anyway.
"""

from vlmctx_eval.tasks.videogen.metrics import psnr, ssim
from vlmctx_eval.tasks.videogen.task import PredictionResult, evaluate_prediction

__all__ = ["PredictionResult", "evaluate_prediction", "psnr", "ssim"]
