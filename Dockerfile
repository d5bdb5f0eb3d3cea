# The streamer image: `streamer serve` by default, `streamer worker` with that command (docker-compose.yml).
# PyAV, OpenCV and espeak-ng come as wheels with their libraries: no system packages are needed.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STREAMER_DATA_DIR=/data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY streamer ./streamer
# The default rig, the browser client and the examples are found next to the package (an editable
# install keeps them there), as in a clone.
COPY frames ./frames
COPY client ./client
COPY examples ./examples
RUN pip install -e . && mkdir -p /data

VOLUME ["/data"]
EXPOSE 8000
CMD ["streamer", "serve", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers"]
