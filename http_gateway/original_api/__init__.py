"""The original single-file backend's routes (/generate-text, /generate-image, /health), kept compatible."""
