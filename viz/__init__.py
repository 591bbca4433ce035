"""Views on an AttentionCapture: metrics, plotly figures, exports and BertViz HTML. Pure Python; no streamlit."""
