"""Names of the features every stage reads and writes, defined once."""

# Raw examples written by ingest.
TEXT_KEY = "text"
LABEL_KEY = "label"
ID_KEY = "id"
RATING_KEY = "rating"  # IMDB star rating 1-10; 0 where the source has none.

# Transformed examples written by transform.
TOKEN_IDS_KEY = "token_ids"
NUM_TOKENS_KEY = "num_tokens"  # Tokens before padding/truncation, for length statistics.

# Vocabulary ids with a fixed meaning; words take ids 2 .. vocab_size - 1.
PAD_ID = 0
OOV_ID = 1
RESERVED_IDS = 2

SPLITS = ("train", "eval", "test")
SOURCE_SPLITS = ("train", "test")
# Reviews without a label (IMDB's 50,000 unlabeled ones), read only when asked for: text for the
# vocabulary, word vectors and language-model pretraining, never for fitting or scoring the
# classifier, so they stay out of SPLITS.
UNLABELED_SPLIT = "unlabeled"
REVIEW_SPLITS = (*SPLITS, UNLABELED_SPLIT)
NO_LABEL = -1  # The label an unlabeled review carries, as tensorflow-datasets writes it.
LABEL_NAMES = ("negative", "positive")

# Serving signature of the exported model.
SERVING_SIGNATURE = "serving_default"
SERVING_INPUT_KEY = "text"
SERVING_PROBABILITY_KEY = "probability"
SERVING_LABEL_KEY = "label"

# Forecasting. Raw examples written by ingest, one per time step.
STEP_KEY = "step"  # 0, 1, ... in time order over the whole series.
DATE_KEY = "date"  # ISO 8601; empty for a generated series.
VALUE_KEY = "value"  # The target, in the series' own units.

# Transformed by transform: each point scaled as scaled = (value - center) / width, with center
# and width computed on the train period; they ride along so the inverse needs no other source.
SCALED_VALUE_KEY = "scaled_value"
SCALE_CENTER_KEY = "scale_center"
SCALE_WIDTH_KEY = "scale_width"
# The standard deviation of the train period's one-step changes, in scaled units: the unit of
# windows and targets when the model learns the change (WindowConfig.forecast_target).
CHANGE_SCALE_KEY = "change_scale"

# Windows written by transform: `lookback` scaled values and the scaled value `horizon` steps
# after the last of them (forecast target "level"), or both relative to that last value, in
# units of CHANGE_SCALE_KEY (target "change"); STEP_KEY is the target's step.
HISTORY_KEY = "history"
TARGET_KEY = "target"

# Serving signature of an exported forecaster.
SERVING_VALUES_KEY = "values"
SERVING_FORECAST_KEY = "forecast"
