import streamlit as st

st.title("5_train")
st.info("Coming soon.")
