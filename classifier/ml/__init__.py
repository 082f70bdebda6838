"""Everything that imports scikit-learn, numpy or joblib lives in this package."""

LABELS: tuple[str, ...] = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")
