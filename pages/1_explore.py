import streamlit as st

st.title("1_explore")
st.info("Coming soon.")
