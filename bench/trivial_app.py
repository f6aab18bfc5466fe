"""A trivial FastAPI app, served like pv-service, to show what the framework alone costs."""
from fastapi import FastAPI

app = FastAPI()


@app.post("/echo")
def echo(body: dict) -> dict:
    return {"received": len(body)}
