"""FER2013 label order and the folder names people use for each emotion."""

from emocli.errors import EmocliError

EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
SPLITS = ("train", "val", "test")

_SYNONYMS = {
    "angry": 0, "anger": 0, "mad": 0,
    "disgust": 1, "disgusted": 1, "disgusting": 1,
    "fear": 2, "fearful": 2, "afraid": 2, "scared": 2,
    "happy": 3, "happiness": 3, "joy": 3, "joyful": 3,
    "sad": 4, "sadness": 4,
    "surprise": 5, "surprised": 5,
    "neutral": 6, "calm": 6,
}


def label_of(name: str) -> int:
    """The FER2013 label of an emotion name or folder (case-insensitive, synonyms allowed)."""
    key = name.strip().lower()
    if key.isdigit() and int(key) < len(EMOTIONS):
        return int(key)
    try:
        return _SYNONYMS[key]
    except KeyError:
        raise EmocliError(
            f"unknown emotion folder {name!r}: expected one of {', '.join(EMOTIONS)}"
        ) from None
