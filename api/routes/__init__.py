"""The API's routes, one module per resource, each with its own `APIRouter` (assembled by api/app.py)."""
