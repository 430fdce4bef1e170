"""Entry point: `python app.py` applies pending migrations, then serves."""
from crm import create_app

app = create_app()

if __name__ == "__main__":
    from crm.cli import serve

    serve(app)
