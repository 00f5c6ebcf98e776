"""The pages for people: home, /models, /monitor, the key form; their templates, styles and scripts."""
