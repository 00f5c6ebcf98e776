"""The floor of the HTTP stack: Flask under gunicorn answering a constant JSON, nothing else."""
from flask import Flask, jsonify

app = Flask(__name__)
ANSWER = {"label": "positive", "score": 0.9}


@app.route("/", methods=["GET", "POST"])
def constant():
    return jsonify(ANSWER)
