"""Renderers: flame graphs, the HTML dashboard and Grafana export (the only place importing plotly)."""
