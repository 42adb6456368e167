"""The pure half of the Sensor kind: which items are new, how they batch, when to poll again."""
