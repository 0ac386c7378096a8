# The generated-data fixtures shared with the component tests.
from components.conftest import (  # noqa: F401
    aclimdb_dir,
    ingested_dir,
    trained_model_dir,
    transformed,
)
