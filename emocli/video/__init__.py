"""Video: detectors, tracker, crops, smoothing, drawing, media I/O and the annotate pipeline."""
