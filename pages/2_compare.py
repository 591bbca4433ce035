import streamlit as st

st.title("2_compare")
st.info("Coming soon.")
