"""The common naive way to serve the sentiment model: joblib.load, predict_proba per request.

No validation, no auth, no limits, no logging. Loads the same trained scikit-learn
pipeline that mlapi serves (``NAIVE_MODEL``: that pipeline dumped by joblib).
"""
import os

import joblib
from flask import Flask, jsonify, request

pipeline = joblib.load(os.environ["NAIVE_MODEL"])
classes = [str(label) for label in pipeline.classes_]
app = Flask(__name__)


@app.get("/")
def ready():
    return jsonify({"status": "ok"})


@app.post("/")
def predict():
    probabilities = pipeline.predict_proba([request.get_json()["text"]])[0]
    return jsonify(dict(zip(classes, probabilities.tolist(), strict=True)))
