"""Streamlit glue shared by the pages: cached loaders, the model picker, the live text box, messages."""
