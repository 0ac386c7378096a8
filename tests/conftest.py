# The generated-data fixtures shared with the component tests.
from components.conftest import (  # noqa: F401
    aclimdb_dir,
    dated_csv,
    ingested_dir,
    trained_model_dir,
    transformed,
)
from tests.object_store import object_store  # noqa: F401
