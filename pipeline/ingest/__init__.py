"""The embed job: photos in SRC -> the images and faces tables at DST (plan, read, decode, the model
stage), and the same chain in this process for a few photos."""
