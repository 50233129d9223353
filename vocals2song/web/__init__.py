"""The web demo's parts that are not layout: the request handler (:mod:`~vocals2song.web.handler`), what the page
shows (:mod:`~vocals2song.web.display`: images and dB views), and serving helpers (:mod:`~vocals2song.web.serving`:
kept songs, downloads, warm-up shapes). ``app.py`` lays them out in Gradio."""
