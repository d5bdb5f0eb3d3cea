"""File formats: audio in and out, and other tools' files (TextGrid, Rhubarb, captions) read and written."""
