import streamlit as st

st.title("4_generate")
st.info("Coming soon.")
