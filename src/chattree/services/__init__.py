"""What the product does: accounts, the conversation tree, generation."""
