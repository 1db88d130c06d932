"""segevo.engine"""
