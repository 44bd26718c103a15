"""Figures and tables rendered from result files (never from models): editing a plot never retrains."""
