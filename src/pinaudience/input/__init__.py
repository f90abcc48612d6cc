"""Input: read a customers file (`source`), refuse what cannot be read safely (`guard`), and turn it into
the desired record set with its counts (`prepare`).
"""
