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
LABEL_NAMES = ("negative", "positive")

# Serving signature of the exported model.
SERVING_SIGNATURE = "serving_default"
SERVING_INPUT_KEY = "text"
SERVING_PROBABILITY_KEY = "probability"
SERVING_LABEL_KEY = "label"
