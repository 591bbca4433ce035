import streamlit as st

st.title("3_leak")
st.info("Coming soon.")
