"""Experiments built on the harness (toy lab, FAR video prediction, streaming needle): each
writes its committed results under ``eval/bench/results/``."""
